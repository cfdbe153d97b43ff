package feeds

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func read(t testing.TB, name string) string {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseNVD(t *testing.T) {
	var got []NVDCVE
	p, err := ParseNVD(strings.NewReader(read(t, "nvd_page.json")), func(c NVDCVE) error { got = append(got, c); return nil })
	if err != nil || p.Count != 3 || p.TotalResults != 3 || p.Timestamp != time.Date(2026, 12, 1, 8, 15, 2, 117e6, time.UTC) {
		t.Fatalf("%+v %v", p, err)
	}
	terrapin, xz, old := got[0], got[1], got[2]
	if b := terrapin.Best(); b == nil || b.Score != 5.9 || b.Severity != "MEDIUM" || b.Version != "3.1" || !strings.HasPrefix(terrapin.Description, "The SSH transport") {
		t.Errorf("terrapin: %+v %+v", terrapin, b)
	}
	// The newest CVSS version wins, even from a secondary source; within a version, the NVD's own.
	if b := xz.Best(); b.Version != "4.0" || b.Score != 9.3 || len(xz.CVSS) != 3 || xz.CVSS[2].Source != "nvd@nist.gov" || len(xz.CWEs) != 1 {
		t.Errorf("xz: %+v", xz)
	}
	// CVSS v2 keeps its severity beside cvssData.
	if b := old.Best(); b.Severity != "HIGH" || b.Score != 10 || old.VulnStatus != "Rejected" || old.Published.Year() != 1988 {
		t.Errorf("v2: %+v", old)
	}
	doc := read(t, "nvd_page.json")
	for name, c := range map[string]struct{ doc, want string }{
		"cut":       {doc[:len(doc)/2], "vulnerabilities[1]"},
		"cve":       {strings.Replace(doc, `"CVE-2024-3094"`, `"XZ-2024"`, 1), "vulnerabilities[1].cve.id"},
		"score":     {strings.Replace(doc, `"baseScore": 5.9`, `"baseScore": 59`, 1), "baseScore"},
		"type":      {strings.Replace(doc, `"baseScore": 5.9`, `"baseScore": "5.9"`, 1), "vulnerabilities[0]"},
		"status":    {strings.Replace(doc, `"Analyzed"`, `"Done"`, 1), "vulnStatus"},
		"date":      {strings.Replace(doc, `"2024-03-29T17:15:21.577"`, `"29/03/2024"`, 1), "published"},
		"duplicate": {strings.Replace(doc, `"CVE-1999-0095"`, `"CVE-2023-48795"`, 1), "listed twice"},
		"format":    {strings.Replace(doc, `"NVD_CVE"`, `"NVD_CPE"`, 1), "format"},
		"version":   {strings.Replace(doc, `"version": "2.0",`, `"version": "1.1",`, 1), "only the CVE API 2.0"},
		"no list":   {`{"format":"NVD_CVE"}`, "vulnerabilities is missing"},
		"no cve":    {`{"vulnerabilities":[{}]}`, "cve is missing"},
		"not json":  {`<html>`, "not a JSON object"},
	} {
		_, err := ParseNVD(strings.NewReader(c.doc), func(NVDCVE) error { return nil })
		if !errors.Is(err, ErrNVD) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestParseSTIX(t *testing.T) {
	var got []STIXObject
	b, err := ParseSTIX(strings.NewReader(read(t, "attack_bundle.json")), func(o STIXObject) error { got = append(got, o); return nil })
	if err != nil || b.CollectionVersion != "18.1" || b.CollectionName != "Enterprise ATT&CK" || len(got) != 11 || b.Objects != 12 {
		t.Fatalf("%+v %d %v", b, len(got), err)
	}
	byID := map[string]STIXObject{}
	for _, o := range got {
		byID[o.ExternalID+o.Type] = o
	}
	if ps := byID["T1059.001attack-pattern"]; !ps.IsSubtechnique || ps.URL != "https://attack.mitre.org/techniques/T1059/001" || ps.KillChainPhases[0] != "execution" {
		t.Errorf("PowerShell: %+v", ps)
	}
	if !byID["T1064attack-pattern"].Deprecated || !byID["T1047attack-pattern"].Revoked || len(byID["G0007intrusion-set"].Aliases) != 4 {
		t.Errorf("states: %+v", byID)
	}
	if m := byID["relationship"]; m.Name == "" || m.SourceRef == "" {
		t.Errorf("relationship: %+v", m)
	}
	doc := read(t, "attack_bundle.json")
	for name, c := range map[string]struct{ doc, want string }{
		"cut":          {doc[:len(doc)/2], "objects["},
		"modified":     {strings.Replace(doc, `"modified": "2026-04-10T18:15:20.103Z",`+"\n"+`            "name": "APT28"`, `"modified": "2026-05-10T18:15:20.103Z",`+"\n"+`            "name": "APT28"`, 1), "the x-mitre-collection lists intrusion-set--bef4c620"},
		"missing":      {strings.Replace(doc, `"id": "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5",`+"\n"+`            "spec_version"`, `"id": "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b6",`+"\n"+`            "spec_version"`, 1), "which is not in the bundle"},
		"id":           {strings.Replace(doc, `"id": "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c",`, `"id": "intrusion-set--APT28",`, 1), "not a STIX identifier"},
		"type":         {strings.Replace(doc, `"type": "intrusion-set",`, `"type": "campaign",`, 1), "the identifier says"},
		"duplicate":    {strings.Replace(doc, `"relationship--6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d",`+"\n"+`            "spec_version"`, `"relationship--1d3b5a4c-2f5e-4c9a-8f7b-0c1d2e3f4a5b",`+"\n"+`            "spec_version"`, 1), "twice"},
		"spec":         {strings.Replace(doc, `"spec_version": "2.1",`, `"spec_version": "3.0",`, 1), "spec_version"},
		"ref":          {strings.Replace(doc, `"source_ref": "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"`, `"source_ref": "APT28"`, 1), "source_ref"},
		"no bundle":    {`{"type":"report","objects":[]}`, "not bundle"},
		"collection":   {`{"type":"bundle","objects":[]}`, "no x-mitre-collection"},
		"not an array": {`{"type":"bundle","objects":{}}`, "not an array"},
	} {
		_, err := ParseSTIX(strings.NewReader(c.doc), func(STIXObject) error { return nil })
		if !errors.Is(err, ErrSTIX) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	c, err := ParseSTIXIndex(strings.NewReader(read(t, "attack_index.json")), "enterprise att&ck")
	if err != nil || c.Versions[0].Version != "18.1" || c.Versions[2].Version != "9.0" {
		t.Fatalf("index: %+v %v", c, err)
	}
	if _, err := ParseSTIXIndex(strings.NewReader(read(t, "attack_index.json")), "ICS ATT&CK"); err == nil || !strings.Contains(err.Error(), "Enterprise ATT&CK, Mobile ATT&CK") {
		t.Errorf("unknown collection: %v", err)
	}
	for _, v := range [][2]string{{"9.0", "18.1"}, {"18.1", "18.10"}, {"16", "16.0"}} {
		if CompareVersions(v[0], v[1]) >= 0 && v[0] != "16" {
			t.Errorf("%s < %s", v[0], v[1])
		}
	}
	if CompareVersions("16", "16.0") != 0 || CompareVersions("18.1", "9.0") != 1 {
		t.Error("CompareVersions")
	}
}

func TestParseOSCAL(t *testing.T) {
	var got []OSCALItem
	c, err := ParseOSCALCatalog(strings.NewReader(read(t, "oscal_catalog.json")), func(it OSCALItem) error { got = append(got, it); return nil })
	if err != nil || c.Version != "5.2.0" || c.Groups != 2 || c.Controls != 5 || c.LastModified.Hour() != 4 {
		t.Fatalf("%+v %v", c, err)
	}
	if ac1 := got[1]; ac1.ID != "ac-1" || ac1.Label != "AC-1" || ac1.Group != "ac" ||
		ac1.Statement != "a. Develop, document, and disseminate to {{ insert: param, ac-1_prm_1 }}:\nb. Designate an official to manage the access control policy and procedures." ||
		!strings.HasPrefix(ac1.Guidance, "Access control policy") || ac1.Params[0] != "ac-01_odp.01" {
		t.Errorf("ac-1: %+v", ac1)
	}
	if e := got[4]; e.ID != "ac-2.10" || e.Parent != "ac-2" || e.Status != "withdrawn" || e.Links[0].Rel != "incorporated-into" {
		t.Errorf("ac-2(10): %+v", e)
	}
	doc := read(t, "oscal_catalog.json")
	for name, c := range map[string]struct{ doc, want string }{
		"cut":       {doc[:len(doc)/2], "catalog.groups[0]"},
		"duplicate": {strings.Replace(doc, `"id": "ir-4",`, `"id": "ac-1",`, 1), "twice"},
		"id":        {strings.Replace(doc, `"id": "ir-4",`, `"id": "4 ir",`, 1), "not an OSCAL token"},
		"title":     {strings.Replace(doc, `"title": "Incident Handling",`, ``, 1), "title is missing"},
		"date":      {strings.Replace(doc, `"2026-08-26T00:00:00.000000-04:00"`, `"August 2026"`, 1), "last-modified"},
		"oscal":     {strings.Replace(doc, `"1.1.3"`, `"0.9"`, 1), "oscal-version"},
		"profile":   {`{"profile": {"uuid": "x"}}`, "no catalog"},
		"type":      {strings.Replace(doc, `"controls": [`, `"controls": {`, 1), "catalog.groups[0]"},
	} {
		_, err := ParseOSCALCatalog(strings.NewReader(c.doc), func(OSCALItem) error { return nil })
		if !errors.Is(err, ErrOSCAL) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// FuzzNVD: any answer parses or fails with ErrNVD; parsed CVEs are checked.
func FuzzNVD(f *testing.F) {
	f.Add([]byte(read(f, "nvd_page.json")))
	f.Add([]byte(`{"format":"NVD_CVE","version":"2.0","totalResults":0,"vulnerabilities":[]}`))
	f.Add([]byte(`{"vulnerabilities":[{"cve":{"id":"CVE-2020-1234","published":"2020-01-01T00:00:00","lastModified":"2020-01-01T00:00:00Z","vulnStatus":"Received","metrics":{"cvssMetricV2":[{"type":"Primary","cvssData":{"version":"2.0","baseScore":5}}]}}}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := ParseNVD(strings.NewReader(string(doc)), func(c NVDCVE) error {
			if !cveID.MatchString(c.ID) || c.LastModified.IsZero() {
				t.Fatalf("an unchecked CVE: %+v", c)
			}
			if b := c.Best(); b != nil && (b.Score < 0 || b.Score > 10) {
				t.Fatalf("a score outside 0–10: %+v", b)
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrNVD) {
			t.Fatalf("an error that is not ErrNVD: %v", err)
		}
	})
}

// FuzzSTIX: any bundle parses or fails with ErrSTIX; parsed objects are checked.
func FuzzSTIX(f *testing.F) {
	f.Add([]byte(read(f, "attack_bundle.json")))
	f.Add([]byte(`{"type":"bundle","objects":[{"type":"x-mitre-collection","id":"x-mitre-collection--1f5f1533-f617-4ca8-9ab4-6a02367fa019","modified":"2020-01-01T00:00:00Z","x_mitre_version":"1","x_mitre_contents":[]}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := ParseSTIX(strings.NewReader(string(doc)), func(o STIXObject) error {
			if !stixID.MatchString(o.ID) || o.Modified.IsZero() {
				t.Fatalf("an unchecked object: %+v", o)
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrSTIX) {
			t.Fatalf("an error that is not ErrSTIX: %v", err)
		}
		_, _ = ParseSTIXIndex(strings.NewReader(string(doc)), "Enterprise ATT&CK")
	})
}

// FuzzOSCAL: any catalog parses or fails with ErrOSCAL; parsed items are checked.
func FuzzOSCAL(f *testing.F) {
	f.Add([]byte(read(f, "oscal_catalog.json")))
	f.Add([]byte(`{"catalog":{"metadata":{"title":"t","version":"1","last-modified":"2020-01-01T00:00:00Z","oscal-version":"1.0.0"},"controls":[{"id":"c-1","title":"C","controls":[{"id":"c-1.1","title":"E"}]}]}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := ParseOSCALCatalog(strings.NewReader(string(doc)), func(it OSCALItem) error {
			if !oscalToken.MatchString(it.ID) || it.Title == "" {
				t.Fatalf("an unchecked item: %+v", it)
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrOSCAL) {
			t.Fatalf("an error that is not ErrOSCAL: %v", err)
		}
	})
}
