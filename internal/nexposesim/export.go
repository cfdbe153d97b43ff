package nexposesim

import (
	"fmt"
	"io"
	"strings"
)

// WriteExport writes a NeXpose XML Export 2.0 of about size bytes to w: nodes with two names,
// an OS fingerprint, 8 node tests and 2 service tests with proofs of a few hundred bytes, and
// 550 vulnerability definitions after the nodes (read by the preset's lookups). The same size
// gives the same document. It returns how many nodes and tests it wrote.
func WriteExport(w io.Writer, size int64) (nodes, tests int, err error) {
	cw := &countingWriter{w: w}
	fmt.Fprint(cw, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<NexposeReport version="2.0"><scans><scan id="1" name="bench" startTime="20261125T020000000" endTime="20261125T040000000" status="finished"/></scans><nodes>`+"\n")
	proof := strings.Repeat("The installed package version is older than the fixed version &amp; the service banner matches. ", 4)
	for cw.n < size-400_000 && cw.err == nil {
		i := nodes
		fmt.Fprintf(cw, `<node address="10.%d.%d.%d" status="alive" device-id="%d" site-name="HQ" site-importance="Normal" scan-template="full-audit" risk-score="%d.5">`,
			i/65536%256, i/256%256, i%256, i+1, i%12000)
		fmt.Fprintf(cw, `<names><name>host-%d.corp.example</name><name>HOST-%d</name></names><fingerprints><os certainty="0.90" vendor="Ubuntu" family="Linux" product="Linux" version="22.04"/></fingerprints><tests>`, i, i)
		for j := 0; j < 8; j++ {
			fmt.Fprintf(cw, `<test id="bench-vuln-%d" key="" status="vulnerable-version" scan-id="1" vulnerable-since="20261001T090000000"><Paragraph><Paragraph>%s (%d)</Paragraph></Paragraph></test>`,
				(i*7+j*13)%500, proof, j)
		}
		fmt.Fprint(cw, `</tests><endpoints><endpoint protocol="tcp" port="443" status="open"><services><service name="HTTPS"><tests>`)
		for j := 0; j < 2; j++ {
			fmt.Fprintf(cw, `<test id="bench-tls-%d" key="" status="vulnerable-exploited" scan-id="1" vulnerable-since="20261101T090000000"><Paragraph>%s</Paragraph></test>`, (i+j)%50, proof)
		}
		fmt.Fprint(cw, "</tests></service></services></endpoint></endpoints></node>\n")
		nodes++
		tests += 10
	}
	fmt.Fprint(cw, "</nodes><VulnerabilityDefinitions>\n")
	for k := 0; k < 500; k++ {
		fmt.Fprintf(cw, `<vulnerability id="bench-vuln-%d" title="Benchmark vulnerability %d" severity="%d" cvssScore="5.0"><description><ContainerBlockElement><Paragraph>%s</Paragraph></ContainerBlockElement></description><references><reference source="CVE">CVE-2026-%04d</reference></references><solution><ContainerBlockElement><Paragraph>Upgrade.</Paragraph></ContainerBlockElement></solution></vulnerability>`+"\n",
			k, k, k%10+1, proof, k)
	}
	for k := 0; k < 50; k++ {
		fmt.Fprintf(cw, `<vulnerability id="bench-tls-%d" title="TLS issue %d" severity="6"><description><ContainerBlockElement><Paragraph>TLS.</Paragraph></ContainerBlockElement></description><references/><solution><ContainerBlockElement><Paragraph>Fix TLS.</Paragraph></ContainerBlockElement></solution></vulnerability>`+"\n", k, k)
	}
	fmt.Fprint(cw, "</VulnerabilityDefinitions></NexposeReport>\n")
	return nodes, tests, cw.err
}

// countingWriter counts what it wrote and keeps the first error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
