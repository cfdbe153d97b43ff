package qualys_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tributary-io/tributary/scanner"
)

func seedXML(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(fixture(f, n))
	}
	f.Add([]byte(""))
	f.Add([]byte("<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID></HOS></HOST_LIST>"))
	f.Add([]byte("<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>5</QID><TYPE>Info</TYPE>"))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><KNOWLEDGE_BASE_VULN_LIST_OUTPUT><RESPONSE><VULN_LIST><VULN><QID>1</QID><TITLE>&a;</TITLE></VULN></VULN_LIST></RESPONSE></KNOWLEDGE_BASE_VULN_LIST_OUTPUT>`))
}

// checkErr requires a failure to be a classified vendor error naming Qualys.
func checkErr(t *testing.T, err error) {
	if err == nil {
		return
	}
	var se *scanner.Error
	if !errors.As(err, &se) || se.Vendor != "Qualys" || se.Kind == "" {
		t.Fatalf("unclassified error %T: %v", err, err)
	}
}

func checkText(t *testing.T, field, s string) {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		t.Fatalf("%s is not clean text: %q", field, s)
	}
}

// FuzzDetections feeds any body to the detection parser: it returns a classified error or
// detections whose fields can be stored (valid UTF-8, no NUL, a known type and status).
func FuzzDetections(f *testing.F) {
	seedXML(f, "detections_quirks.xml", "detections_empty.xml", "simple_return_2001.xml", "simple_return_1905_nodecl.xml")
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fixtureClient(t, 200, body, "confirmed", "potential", "info")
		err := c.Detections(context.Background(), "7", func(d scanner.Detection) error {
			for name, v := range map[string]string{"identity": d.Identity, "host": d.Host, "ip": d.IP, "protocol": d.Protocol,
				"evidence": d.Evidence, "vendor status": d.VendorStatus, "unique id": d.UniqueID} {
				checkText(t, name, v)
			}
			if d.Identity == "" || d.VendorID == "" || d.Severity == "" || d.Type == "" || d.Status == "" {
				t.Fatalf("incomplete detection %+v", d)
			}
			if d.QDS != nil && (*d.QDS < 0 || *d.QDS > 100) {
				t.Fatalf("QDS %d", *d.QDS)
			}
			return nil
		})
		checkErr(t, err)
	})
}

// FuzzKnowledgeBase feeds any body to the knowledge-base parser: every definition it returns
// has a title, and its HTML holds no script.
func FuzzKnowledgeBase(f *testing.F) {
	seedXML(f, "kb_quirks.xml", "simple_return_2001.xml")
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fixtureClient(t, 200, body)
		err := c.KnowledgeBase(context.Background(), []string{"1"}, func(d scanner.Definition) error {
			if d.Title == "" || d.VendorID == "" {
				t.Fatalf("incomplete definition %+v", d)
			}
			for name, v := range map[string]string{"title": d.Title, "description": d.Description, "solution": d.Solution,
				"description html": d.DescriptionHTML, "solution html": d.SolutionHTML} {
				checkText(t, name, v)
			}
			if strings.Contains(strings.ToLower(d.DescriptionHTML+d.SolutionHTML), "<script") {
				t.Fatalf("script kept: %q %q", d.DescriptionHTML, d.SolutionHTML)
			}
			return nil
		}, &scanner.Notes{})
		checkErr(t, err)
	})
}

// FuzzHosts feeds any body to the host-list parser: hosts it returns have a numeric ID and
// clean text.
func FuzzHosts(f *testing.F) {
	seedXML(f, "host_list.xml", "simple_return_2001.xml")
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fixtureClient(t, 200, body)
		err := c.Hosts(context.Background(), scanner.Filter{}, func(h scanner.Host) error {
			for name, v := range map[string]string{"id": h.VendorID, "ip": h.IP, "dns": h.DNS, "netbios": h.NetBIOS, "os": h.OS, "name": h.Name()} {
				checkText(t, name, v)
			}
			if h.VendorID == "" {
				t.Fatalf("host without ID: %+v", h)
			}
			return nil
		})
		checkErr(t, err)
	})
}
