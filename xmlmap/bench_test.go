package xmlmap_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"testing"

	"github.com/tributary-io/tributary/xmlmap"
)

// nexposeExport writes a NeXpose XML Export 2.0 of n nodes with 10 tests each.
func nexposeExport(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<NexposeReport version=\"2.0\"><scans/><nodes>\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `<node address="10.%d.%d.%d" status="alive" device-id="%d" site-name="HQ" site-importance="Normal" risk-score="%d.5">`,
			i/65536%256, i/256%256, i%256, i+1, i%12000)
		fmt.Fprintf(&b, `<names><name>host-%d.corp.example</name><name>HOST-%d</name></names><fingerprints><os certainty="0.90" vendor="Ubuntu" family="Linux" product="Ubuntu Linux" version="22.04"/></fingerprints><tests>`, i, i)
		for j := 0; j < 10; j++ {
			fmt.Fprintf(&b, `<test id="vuln-%d" key="" status="vulnerable-version" scan-id="7" vulnerable-since="20261001T090000000"><Paragraph><Paragraph>Vulnerable version %d.%d of the package &amp; its libraries was found on the host; upgrade it.</Paragraph></Paragraph></test>`, j, i, j)
		}
		b.WriteString("</tests><endpoints><endpoint protocol=\"tcp\" port=\"443\" status=\"open\"><services><service name=\"HTTPS\"><tests/></service></services></endpoint></endpoints></node>\n")
	}
	b.WriteString("</nodes><VulnerabilityDefinitions/></NexposeReport>\n")
	return b.Bytes()
}

// BenchmarkMapNexposeExport maps every node of a generated export (about 20 MB for 10,000
// nodes) to asset fields, next to the floor: encoding/xml's token loop over the same bytes.
func BenchmarkMapNexposeExport(b *testing.B) {
	doc := nexposeExport(10_000)
	c, err := xmlmap.Compile(nexposeMapping(), assetTargets)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding-xml-tokens", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for i := 0; i < b.N; i++ {
			d := xml.NewDecoder(bytes.NewReader(doc))
			for {
				if _, err := d.RawToken(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("xmlmap", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for i := 0; i < b.N; i++ {
			n, err := xmlmap.Records(bytes.NewReader(doc), c.Path(), xmlmap.ReadOptions{}, func(r *xmlmap.Record) error {
				if _, errs := c.Evaluate(r, nil); len(errs) > 0 {
					return fmt.Errorf("record %d: %v", r.Number, errs)
				}
				return nil
			})
			if err != nil || n != 10_000 {
				b.Fatal(n, err)
			}
		}
	})
}
