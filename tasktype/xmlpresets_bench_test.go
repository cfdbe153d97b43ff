package tasktype

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/xmlmap"
)

// BenchmarkNexposeVulnPreset maps the records of a generated NeXpose export (2,000 nodes, 8 tests
// each) with the vulnerability preset: the XPath evaluation per record, without storing.
func BenchmarkNexposeVulnPreset(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?><NexposeReport version="2.0"><nodes>`)
	proof := strings.Repeat("The installed package version is older than the fixed version &amp; the service banner matches. ", 4)
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&buf, `<node address="10.0.%d.%d" status="alive" device-id="%d" site-name="HQ" risk-score="5.5"><names><name>h%d</name></names><fingerprints><os vendor="U" product="L" version="1"/></fingerprints><tests>`, i/256, i%256, i, i)
		for j := 0; j < 8; j++ {
			fmt.Fprintf(&buf, `<test id="bench-vuln-%d" key="" status="vulnerable-version" vulnerable-since="20261001T090000000"><Paragraph><Paragraph>%s</Paragraph></Paragraph></test>`, j, proof)
		}
		buf.WriteString(`</tests></node>`)
	}
	buf.WriteString(`</nodes><VulnerabilityDefinitions>`)
	for k := 0; k < 10; k++ {
		fmt.Fprintf(&buf, `<vulnerability id="bench-vuln-%d" title="T%d" severity="5"><description>%s</description><references><reference source="CVE">CVE-1</reference></references><solution>s</solution></vulnerability>`, k, k, proof)
	}
	buf.WriteString(`</VulnerabilityDefinitions></NexposeReport>`)
	doc := buf.Bytes()
	p, _ := XMLPreset("nexpose_xml_2_vulnerabilities")
	c, err := xmlmap.Compile(p.Mapping, XMLTargets["vulnerabilities"])
	if err != nil {
		b.Fatal(err)
	}
	tables, err := c.ReadLookups(bytes.NewReader(doc), xmlmap.LookupOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Records(bytes.NewReader(doc), xmlmap.ReadOptions{}, func(r *xmlmap.Record) error {
			_, errs := c.Evaluate(r, tables)
			if len(errs) > 0 {
				b.Fatal(errs)
			}
			return nil
		})
	}
}
