package qualys

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tributary-io/tributary/xmlstream"
)

// refList is the reading of a list page by encoding/xml, as the client read pages before the
// stream reader: the reference the stream reader is held to.
func refList(body []byte, itemName string, newItem func() any) (listPage, []any, error) {
	var p listPage
	var items []any
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.CharsetReader = xmlstream.CharsetReader
	handlers := map[string]func(xml.StartElement) error{
		"WARNING": func(se xml.StartElement) error {
			p.Warning = &xmlWarning{}
			return d.DecodeElement(p.Warning, &se)
		},
		"CODE": func(se xml.StartElement) error { return d.DecodeElement(&p.Code, &se) },
		"TEXT": func(se xml.StartElement) error { return d.DecodeElement(&p.Text, &se) },
		itemName: func(se xml.StartElement) error {
			v := newItem()
			items = append(items, v)
			return d.DecodeElement(v, &se)
		},
	}
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if p.Root == "" {
				return p, items, errors.New("empty")
			}
			return p, items, nil
		}
		if err != nil {
			return p, items, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if p.Root != "" {
					return p, items, errors.New("second root")
				}
				p.Root = t.Name.Local
			}
			if h, ok := handlers[t.Name.Local]; ok && depth > 0 {
				if err := h(t); err != nil {
					return p, items, err
				}
				continue
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

// ourList reads the page with the client's own parser.
func ourList(body []byte, itemName string, newItem func() any) (listPage, []any, error) {
	var items []any
	p, err := parseList(bytes.NewReader(body), 1<<30, itemName, func(r *xmlstream.Reader) error {
		v := newItem()
		items = append(items, v)
		return v.(interface{ read(*xmlstream.Reader) error }).read(r)
	})
	return p, items, err
}

var lists = []struct {
	item    string
	newItem func() any
}{
	{"HOST", func() any { return &xmlHost{} }},
	{"VULN", func() any { return &xmlVuln{} }},
	{"ASSET_GROUP", func() any { return &xmlAssetGroup{} }},
}

// compareLists requires both readings of body to agree: the same root, warning, return code
// and text, and items field for field when both accept it; a rejection by one is a rejection
// by the other, except what the stream reader documents as unsupported.
func compareLists(t *testing.T, body []byte) {
	t.Helper()
	for _, l := range lists {
		wp, wi, werr := refList(body, l.item, l.newItem)
		gp, gi, gerr := ourList(body, l.item, l.newItem)
		switch {
		case werr == nil && gerr == nil:
			if !reflect.DeepEqual(wp, gp) || !reflect.DeepEqual(wi, gi) {
				t.Fatalf("%s list %q:\n got %s\nwant %s", l.item, body, show(gp, gi), show(wp, wi))
			}
		case werr != nil && gerr == nil:
			t.Fatalf("%s list %q: accepted, but encoding/xml says %v", l.item, body, werr)
		case werr == nil && gerr != nil:
			if !errors.Is(gerr, xmlstream.ErrUnsupported) {
				t.Fatalf("%s list %q: rejected (%v), but encoding/xml reads it", l.item, body, gerr)
			}
		}
	}
	// An error body: the fields read before any fault.
	var want simpleReturn
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = xmlstream.CharsetReader
	if err := d.Decode(&want); err == nil {
		// API v1 answers <ERROR number="…">text</ERROR>: the number and the element's own text.
		var v1 struct {
			XMLName xml.Name
			Number  string `xml:"number,attr"`
			Text    string `xml:",chardata"`
		}
		d := xml.NewDecoder(bytes.NewReader(body))
		d.CharsetReader = xmlstream.CharsetReader
		if d.Decode(&v1) == nil && v1.XMLName.Local == "ERROR" {
			want = simpleReturn{Code: v1.Number, Text: v1.Text}
		}
		if got := readSimpleReturn(bytes.NewReader(body)); !reflect.DeepEqual(got, want) {
			t.Fatalf("simple return %q:\n got %+v\nwant %+v", body, got, want)
		}
	}
}

func show(p listPage, items []any) string {
	s := fmt.Sprintf("%+v", p)
	if p.Warning != nil {
		s += fmt.Sprintf(" warning %+v", *p.Warning)
	}
	for _, it := range items {
		s += fmt.Sprintf(" %+v", it)
	}
	return s
}

func equivalenceFixtures(t testing.TB) [][]byte {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var docs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs
}

var equivalenceSeeds = []string{
	`<ERROR number="1905">bad <B>value</B> of &amp; states<![CDATA[ <x> ]]></ERROR>`,
	`<ERROR>no number</ERROR>`,
	`<ERROR number="2000"/>`,
	`<HOST_LIST_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><ID>2</ID><DNS>a<X>b</X>c</DNS>` +
		`<DETECTION_LIST><DETECTION><QID>5</QID></DETECTION></DETECTION_LIST><DETECTION_LIST><DETECTION><QID>6</QID><RESULTS><![CDATA[x &amp; y]]></RESULTS></DETECTION></DETECTION_LIST>` +
		`</HOST></HOST_LIST><WARNING><CODE>1980</CODE><URL>https://x/?id_min=3</URL></WARNING></RESPONSE></HOST_LIST_OUTPUT>`,
	`<KNOWLEDGE_BASE_VULN_LIST_OUTPUT><RESPONSE><VULN_LIST><VULN><QID>1</QID><CVE_LIST><CVE><ID>CVE-1</ID><ID>CVE-2</ID></CVE><CVE/></CVE_LIST><CVE_LIST><CVE><ID>CVE-3</ID></CVE></CVE_LIST></VULN></VULN_LIST></RESPONSE></KNOWLEDGE_BASE_VULN_LIST_OUTPUT>`,
	`<SIMPLE_RETURN><RESPONSE><CODE>1965</CODE><TEXT>wait</TEXT><ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY><VALUE>30</VALUE></ITEM><ITEM><KEY>X</KEY></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>`,
	`<ASSET_GROUP_LIST_OUTPUT><RESPONSE><ASSET_GROUP_LIST><ASSET_GROUP><ID>1</ID><TITLE><![CDATA[a]]>b</TITLE></ASSET_GROUP></ASSET_GROUP_LIST></RESPONSE></ASSET_GROUP_LIST_OUTPUT>`,
	`<?xml version="1.0" encoding="ISO-8859-1"?><HOST_LIST_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><OS>Windows ` + "\xae" + `</OS></HOST></HOST_LIST></RESPONSE></HOST_LIST_OUTPUT>`,
	`<A><HOST><ID>1</ID></HOST></A><B/>`, `<A><HOST><ID>1</ID>`, ``,
}

func TestStreamReaderEquivalence(t *testing.T) {
	for _, doc := range equivalenceFixtures(t) {
		compareLists(t, doc)
	}
	for _, s := range equivalenceSeeds {
		compareLists(t, []byte(s))
	}
}

// FuzzStreamReaderEquivalence holds the client's stream reading of every list (hosts,
// detections, knowledge base, asset groups, warnings, simple returns) to encoding/xml's.
func FuzzStreamReaderEquivalence(f *testing.F) {
	for _, doc := range equivalenceFixtures(f) {
		f.Add(doc)
	}
	for _, s := range equivalenceSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { compareLists(t, body) })
}
