package tasktype

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/tributary-io/tributary/xmlmap"
)

// mapFile maps every record of a fixture with a preset.
func mapFile(t *testing.T, preset, file string) []xmlmap.Values {
	t.Helper()
	p, ok := XMLPreset(preset)
	if !ok {
		t.Fatalf("no preset %s", preset)
	}
	c, err := xmlmap.Compile(p.Mapping, XMLTargets[p.Kind])
	if err != nil {
		t.Fatalf("preset %s does not compile: %v", preset, err)
	}
	var tables xmlmap.Tables
	if c.HasLookups() {
		f, err := os.Open("testdata/xml/" + file)
		if err != nil {
			t.Fatal(err)
		}
		tables, err = c.ReadLookups(f, xmlmap.LookupOptions{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open("testdata/xml/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []xmlmap.Values
	if _, err := c.Records(f, xmlmap.ReadOptions{}, func(r *xmlmap.Record) error {
		v, errs := c.Evaluate(r, tables)
		if len(errs) > 0 {
			t.Errorf("%s record %d (line %d): %v", preset, r.Number, r.Line, errs)
		}
		out = append(out, v)
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", preset, err)
	}
	return out
}

func check(t *testing.T, what string, v xmlmap.Values, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if w == nil {
			if got, ok := v[k]; ok {
				t.Errorf("%s: %s = %#v, want none", what, k, got)
			}
			continue
		}
		if got := v[k]; got != w {
			t.Errorf("%s: %s = %#v, want %#v", what, k, got, w)
		}
	}
}

func TestPresetsCompileAndValidate(t *testing.T) {
	for _, p := range XMLPresets() {
		cfg := NewXMLImportConfig(p.Kind)
		cfg.Preset = p.Name
		cfg.URL = "https://reports.example.com/latest.xml"
		if fs := cfg.Validate(); len(fs) > 0 {
			t.Errorf("preset %s: %v", p.Name, fs)
		}
	}
}

func TestNexposePresets(t *testing.T) {
	assets := mapFile(t, "nexpose_xml_2_assets", "nexpose_export_2.xml")
	if len(assets) != 2 {
		t.Fatalf("%d assets", len(assets))
	}
	check(t, "node 1", assets[0], map[string]any{"id": "1001", "name": "web01.corp.example", "ip": "10.0.0.5",
		"os": "Ubuntu Linux 22.04", "relevance": int64(5), "description": "Site HQ"})
	check(t, "node 2", assets[1], map[string]any{"id": "10.0.0.6", "name": "10.0.0.6", "host_address": "10.0.0.6", "relevance": int64(1), "os": nil})

	vulns := mapFile(t, "nexpose_xml_2_vulnerabilities", "nexpose_export_2.xml")
	if len(vulns) != 4 {
		t.Fatalf("%d occurrences", len(vulns))
	}
	check(t, "test 1", vulns[0], map[string]any{"vulnerability_id": "ssh-cve-2023-48795", "host": "1001", "ip": "10.0.0.5",
		"title": "OpenSSH: Terrapin prefix truncation (CVE-2023-48795)", "level": int64(3), "cves": "CVE-2023-48795,CVE-2023-51385",
		"status": "open", "detection_type": "confirmed", "port": nil, "solution": "Upgrade OpenSSH to 9.6 or later.",
		"first_found": time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)})
	check(t, "test 2 (upper-case ID)", vulns[1], map[string]any{"vulnerability_id": "generic-weak-password", "title": "Weak password accepted",
		"level": int64(5), "instance": "admin", "detection_type": "potential"})
	check(t, "service test", vulns[2], map[string]any{"vulnerability_id": "tls-server-cert-expired", "port": int64(443), "protocol": "tcp",
		"level": int64(3), "evidence": "The certificate expired on Tue, 01 Sep 2026 & was still served."})
	check(t, "node without device-id", vulns[3], map[string]any{"host": "10.0.0.6"})
}

func TestQualysPresets(t *testing.T) {
	assets := mapFile(t, "qualys_asset_data_report_assets", "qualys_asset_data_report.xml")
	if len(assets) != 2 {
		t.Fatalf("%d assets", len(assets))
	}
	check(t, "host 1", assets[0], map[string]any{"id": "10.1.0.10", "name": "FILES", "host_address": "files.corp.example",
		"os": "Windows Server 2019 Datacenter 64 bit Edition Version 1809"})
	check(t, "host 2", assets[1], map[string]any{"id": "10.1.0.11", "name": "10.1.0.11", "host_address": "10.1.0.11"})

	vulns := mapFile(t, "qualys_asset_data_report_vulnerabilities", "qualys_asset_data_report.xml")
	if len(vulns) != 5 {
		t.Fatalf("%d occurrences", len(vulns))
	}
	check(t, "vuln 1", vulns[0], map[string]any{"vulnerability_id": "38170", "host": "10.1.0.10", "host_name": "files.corp.example",
		"title": "SSL Certificate - Subject Common Name Does Not Match Server FQDN", "level": int64(2), "port": int64(443),
		"instance": "ssl", "status": "open", "detection_type": "confirmed", "first_found": time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC),
		"evidence": `Certificate #0 CN=files.corp.example (files.corp.example) doesn't match the host name "Café Server"`})
	check(t, "vuln 2", vulns[1], map[string]any{"vulnerability_id": "91234", "title": "Microsoft Windows Security Update for October 2026 é Café",
		"cves": "CVE-2026-1001,CVE-2026-1002", "detection_type": "potential", "level": int64(5), "port": nil, "instance": nil})
	check(t, "vuln 3", vulns[2], map[string]any{"detection_type": "info"})
	check(t, "host 2 vuln", vulns[3], map[string]any{"host": "10.1.0.11", "port": int64(8443), "host_name": nil})
	check(t, "fixed", vulns[4], map[string]any{"status": "closed"})

	scanAssets := mapFile(t, "qualys_scan_assets", "qualys_scan.xml")
	if len(scanAssets) != 2 {
		t.Fatalf("%d scan assets", len(scanAssets))
	}
	check(t, "ip 1", scanAssets[0], map[string]any{"id": "192.0.2.10", "name": "www.example.com", "os": "Linux 4.x"})
	check(t, "ip 2", scanAssets[1], map[string]any{"id": "192.0.2.11", "name": "192.0.2.11"})
	scan := mapFile(t, "qualys_scan_vulnerabilities", "qualys_scan.xml")
	if len(scan) != 4 {
		t.Fatalf("%d scan occurrences", len(scan))
	}
	found := time.Date(2026, 11, 25, 9, 45, 41, 0, time.UTC)
	check(t, "VULN", scan[0], map[string]any{"vulnerability_id": "86473", "host": "192.0.2.10", "port": int64(443), "level": int64(3),
		"cves": "CVE-2026-2001", "detection_type": "confirmed", "last_found": found,
		"description": "The web server\u2019s login form posts credentials in plain text."})
	check(t, "VULN without port", scan[1], map[string]any{"vulnerability_id": "38739", "port": nil, "level": int64(4)})
	check(t, "PRACTICE", scan[2], map[string]any{"vulnerability_id": "90043", "port": int64(445), "detection_type": "potential"})
	check(t, "second IP", scan[3], map[string]any{"host": "192.0.2.11", "port": int64(80), "last_found": found})
}

// FuzzPresets maps any document with every preset (lookups, records, evaluation): nothing
// panics, and a record either maps or says which field failed and why.
func FuzzPresets(f *testing.F) {
	for _, name := range []string{"nexpose_export_2.xml", "qualys_asset_data_report.xml", "qualys_scan.xml"} {
		b, err := os.ReadFile("testdata/xml/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<SCAN><HEADER><KEY value="DATE">yesterday</KEY></HEADER><IP value=""><VULNS><CAT port="x"><VULN number="" severity="9"/></CAT></VULNS></IP></SCAN>`))
	var compiled []*xmlmap.Compiled
	for _, p := range XMLPresets() {
		c, err := xmlmap.Compile(p.Mapping, XMLTargets[p.Kind])
		if err != nil {
			f.Fatal(err)
		}
		compiled = append(compiled, c)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, c := range compiled {
			tables, err := c.ReadLookups(bytes.NewReader(doc), xmlmap.LookupOptions{})
			if err != nil {
				continue
			}
			_, _ = c.Records(bytes.NewReader(doc), xmlmap.ReadOptions{}, func(r *xmlmap.Record) error {
				v, errs := c.Evaluate(r, tables)
				for _, e := range errs {
					if e.Target == "" || e.Message == "" {
						t.Fatalf("record %d: an error without field or reason: %+v", r.Number, e)
					}
					if _, ok := v[e.Target]; ok {
						t.Fatalf("record %d: %s both failed and has a value", r.Number, e.Target)
					}
				}
				return nil
			})
		}
	})
}
