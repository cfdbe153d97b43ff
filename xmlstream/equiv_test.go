package xmlstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tok is a token as both readers see it: comments, processing instructions and directives
// are left out, and adjacent character data is merged.
type tok struct {
	kind  Kind
	name  string
	attrs string
	text  string
}

func (t tok) String() string {
	switch t.kind {
	case StartElement:
		return "<" + t.name + t.attrs + ">"
	case EndElement:
		return "</" + t.name + ">"
	}
	return fmt.Sprintf("%q", t.text)
}

func appendTok(toks []tok, t tok) []tok {
	if t.kind == Text {
		if t.text == "" {
			return toks
		}
		if n := len(toks); n > 0 && toks[n-1].kind == Text {
			toks[n-1].text += t.text
			return toks
		}
	}
	return append(toks, t)
}

// refTokens reads doc with encoding/xml in Strict mode, with the same encodings.
func refTokens(doc []byte) ([]tok, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.CharsetReader = CharsetReader
	var toks []tok
	for {
		t, err := d.Token()
		if err == io.EOF {
			return toks, nil
		}
		if err != nil {
			return toks, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			var a strings.Builder
			for _, at := range t.Attr {
				fmt.Fprintf(&a, " %s=%q", at.Name.Local, at.Value)
			}
			toks = appendTok(toks, tok{kind: StartElement, name: t.Name.Local, attrs: a.String()})
		case xml.EndElement:
			toks = appendTok(toks, tok{kind: EndElement, name: t.Name.Local})
		case xml.CharData:
			toks = appendTok(toks, tok{kind: Text, text: string(t)})
		}
	}
}

// ourTokens reads doc with this package.
func ourTokens(doc []byte, opts Options) ([]tok, error) {
	return readTokens(NewReader(bytes.NewReader(doc), opts))
}

func readTokens(r *Reader) ([]tok, error) {
	var toks []tok
	for {
		k, err := r.Next()
		if err != nil {
			return toks, err
		}
		switch k {
		case EOF:
			return toks, nil
		case StartElement:
			var a strings.Builder
			for _, at := range r.Attrs() {
				fmt.Fprintf(&a, " %s=%q", at.Local(), at.Value)
			}
			toks = appendTok(toks, tok{kind: StartElement, name: string(r.Local()), attrs: a.String()})
		case EndElement:
			toks = appendTok(toks, tok{kind: EndElement, name: string(r.Local())})
		case Text:
			toks = appendTok(toks, tok{kind: Text, text: string(r.Text())})
		}
	}
}

// compare requires the two readers to agree on doc: the same tokens when both accept it;
// when one rejects it, the other rejects it too, except that this reader may refuse what it
// documents as Unsupported.
func compare(t *testing.T, doc []byte, opts Options) {
	t.Helper()
	want, werr := refTokens(doc)
	got, gerr := ourTokens(doc, opts)
	var xe *Error
	if gerr != nil && !errors.As(gerr, &xe) {
		t.Fatalf("%q: error of type %T: %v", doc, gerr, gerr)
	}
	switch {
	case werr == nil && gerr == nil:
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q:\n got %v\nwant %v", doc, got, want)
		}
	case werr != nil && gerr == nil:
		t.Fatalf("%q: accepted, but encoding/xml says %v (tokens %v)", doc, werr, got)
	case werr == nil && gerr != nil:
		if xe.Kind != Unsupported {
			t.Fatalf("%q: rejected (%v), but encoding/xml reads %v", doc, gerr, want)
		}
	default:
		// Both reject. The tokens before the error agree, except where encoding/xml returned
		// a token that this reader checks as a whole first (a start tag with a bad attribute).
		if len(got) > len(want) {
			t.Fatalf("%q: %v before the error, encoding/xml only %v", doc, got, want)
		}
	}
}

var equivalenceSeeds = []string{
	``, ` `, `<a/>`, `<a></a>`, `<a>x</a>`, `<a b="1" c='2'/>`, `<a b="1"c="2"/>`, `<a b = "1" />`,
	`<?xml version="1.0" encoding="UTF-8"?><a>é</a>`, `<?xml version="1.1"?><a/>`,
	`<?xml version="1.0" encoding="ISO-8859-1"?><a>` + "\xe9\x80" + `</a>`,
	`<?xml version="1.0" encoding="windows-1252"?><a b="` + "\x80\x92" + `">` + "\x93x\x94" + `</a>`,
	`<?xml version="1.0" encoding="Shift_JIS"?><a/>`, "\xef\xbb\xbf<a/>", "\xef\xbb\xbf<?xml version='1.0'?><a/>",
	`<a>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x10FFFF;</a>`, `<a>&nbsp;</a>`, `<a>&#0;</a>`, `<a>&#xD800;</a>`,
	`<a>&#x110000;</a>`, `<a>&#;</a>`, `<a>&;</a>`, `<a>& b</a>`, `<a>&amp</a>`, `<a>&é;</a>`,
	`<a><![CDATA[&amp; <b> ]] ]]></a>`, `<a><![CDATA[x]]>y<![CDATA[]]>z</a>`, `<a><![CDATX[x]]></a>`, `<a><![CDATA[x</a>`,
	"<a>x\r\ny\rz</a>", "<a b=\"x\r\ny\">\r</a>", "<a><![CDATA[\r\n\r]]></a>",
	`<a>]]></a>`, `<a>]]&gt;</a>`, `<a b="]]>"/>`, `<a b="<"/>`, `<a b="x/>`, `<a b=x/>`, `<a b/>`, `<a b=/>`, `<a / >`, `<a//>`,
	`<a><b></a></b>`, `<a></b>`, `</a>`, `<a>`, `<a><b>`, `<a`, `<`, `<a b="`, `<a><!--`, `<a><![CDATA[`,
	`<a><!-- c --></a>`, `<a><!----></a>`, `<a><!-- a -- b --></a>`, `<a><!-- a ---></a>`, `<a><!-x--></a>`, `<a><!---> x --></a>`,
	`<?pi data?><a/>`, `<??><a/>`, `<?1x?><a/>`, `<a><?xml version="1.0"?></a>`, `<a/><?xml version="1.0" encoding="latin1"?>`,
	`<!DOCTYPE a><a/>`, `<!DOCTYPE a SYSTEM "a.dtd"><a/>`, `<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`,
	`<!DOCTYPE a [<!ENTITY e ">">]><a/>`, `<!DOCTYPE a [<!-- > -->]><a/>`, `<!ELEMENT a ANY><a/>`, `<!><a/>`,
	`<a:b xmlns:a="u"><a:c/></a:b>`, `<a:b></c:b>`, `<a:b></b>`, `<:a></:a>`, `<a:></a:>`, `<a:b:c/>`, `<a x:y:z="1"/>`,
	`<é/>`, `<aé/>`, `<a` + "\u00b7" + `/>`, "<\u00b7/>", `<1a/>`, `<-a/>`, `<a.b-c_d/>`, `< a/>`, `<a >`, `</a >`, `<a></a b>`,
	"<a>\x00</a>", "<a>\x01</a>", "<a>\xff</a>", "<a>\xef\xbf\xbe</a>", "<a b=\"\x0b\"/>", "<a>\t\n</a>",
	`<a/><b/>`, `text<a/>more`, `<a>x</a>tail`,
}

func TestEquivalenceWithEncodingXML(t *testing.T) {
	for _, s := range equivalenceSeeds {
		compare(t, []byte(s), Options{})
	}
	for _, f := range fixtureFiles(t) {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, doc, Options{})
		// Also through a reader that hands out one byte at a time.
		if got, err := ourTokensOneByte(doc); err != nil {
			t.Fatalf("%s one byte at a time: %v", f, err)
		} else if want, _ := refTokens(doc); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s one byte at a time differs", f)
		}
	}
}

func ourTokensOneByte(doc []byte) ([]tok, error) {
	return readTokens(NewReader(io.LimitReader(&oneByte{doc}, int64(len(doc))), Options{BufferSize: 16}))
}

type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}

// fixtureFiles are the project's XML fixtures: every vendor document the tests know.
func fixtureFiles(t testing.TB) []string {
	files, err := filepath.Glob("../scanner/*/testdata/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	local, _ := filepath.Glob("testdata/*.xml")
	files = append(files, local...)
	if len(files) == 0 {
		t.Fatal("no XML fixtures found")
	}
	return files
}

// FuzzEquivalence feeds any document to both readers: they must agree (see compare).
func FuzzEquivalence(f *testing.F) {
	for _, s := range equivalenceSeeds {
		f.Add([]byte(s))
	}
	for _, file := range fixtureFiles(f) {
		doc, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		compare(t, doc, Options{MaxElementBytes: 1 << 30, MaxDepth: 1 << 20})
	})
}
