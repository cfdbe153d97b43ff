package xmlstream

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func walk(doc string, opts Options, handlers map[string]func(r *Reader) error) (string, error) {
	r := NewReader(strings.NewReader(doc), opts)
	hs := map[string]func() error{}
	for name, h := range handlers {
		hs[name] = func() error { return h(r) }
	}
	return r.Walk(hs)
}

func TestWalkErrors(t *testing.T) {
	big := "<LIST><ITEM>" + strings.Repeat("x", 5000) + "</ITEM></LIST>"
	cases := []struct {
		doc  string
		opts Options
		kind error
		msg  string
	}{
		{"", Options{}, ErrEmpty, "the body is empty"},
		{"  <!-- only a comment -->", Options{}, ErrEmpty, "the body is empty"},
		{"<LIST><ITEM>1</ITEM>", Options{}, ErrTruncated, "the document ends inside <LIST> near line 1: the body is truncated"},
		{"<LIST>\n<ITEM><ID>1</ID", Options{}, ErrTruncated, "near line 2: the body is truncated"},
		{"<LIST/><LIST/>", Options{}, ErrMalformed, "a second root element <LIST> follows </LIST>"},
		{"<LIST>\n\n<ITEM></LIST>", Options{}, ErrMalformed, "malformed XML at line 3: element <ITEM> closed by </LIST>"},
		{big, Options{MaxElementBytes: 1000, BufferSize: 64}, ErrTooLarge, "an element near line 1 is larger than 1000 bytes"},
		// One token larger than the cap is refused before it is buffered whole.
		{"<LIST>" + strings.Repeat("y", 100000) + "</LIST>", Options{MaxElementBytes: 1000, BufferSize: 64}, ErrTooLarge, "larger than 1000 bytes"},
		{strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20), Options{MaxDepth: 10}, ErrUnsupported, "elements nest deeper than 10 levels"},
		{`<?xml version="1.0" encoding="UTF-16"?><a/>`, Options{}, ErrUnsupported, `declares encoding "UTF-16"`},
		{`<!DOCTYPE a [<!ENTITY x "&#60;">]><a>&x;</a>`, Options{}, ErrMalformed, "invalid character entity &x;"},
	}
	for _, tc := range cases {
		_, err := walk(tc.doc, tc.opts, map[string]func(*Reader) error{"ITEM": func(r *Reader) error { return r.Skip() }})
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%.40q: err = %v, want %v with %q", tc.doc, err, tc.kind, tc.msg)
		}
	}
	// The same big element is fine under a larger cap.
	if _, err := walk(big, Options{MaxElementBytes: 6000, BufferSize: 64}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTextAndChildren(t *testing.T) {
	doc := `<?xml version="1.0" encoding="ISO-8859-1"?>
<OUT><RESPONSE><LIST>
  <HOST><ID>1</ID><NAME>caf` + "\xe9" + `</NAME><ID>2</ID><NOTE>a<b>skipped</b>c<![CDATA[&amp;]]></NOTE>
    <DETECTIONS><DETECTION><QID>7</QID></DETECTION><OTHER/><DETECTION><QID>8</QID><X><QID>9</QID></X></DETECTION></DETECTIONS>
  </HOST>
  <HOST><ID>3</ID></HOST>
</LIST></RESPONSE></OUT>`
	type host struct {
		ID, Name, Note string
		QIDs           []string
	}
	var hosts []host
	root, err := walk(doc, Options{}, map[string]func(*Reader) error{"HOST": func(r *Reader) error {
		var h host
		err := r.Children(func(name []byte) error {
			var err error
			switch string(name) {
			case "ID":
				h.ID, err = r.ReadText()
			case "NAME":
				h.Name, err = r.ReadText()
			case "NOTE":
				h.Note, err = r.ReadText()
			case "DETECTIONS":
				err = r.Children(func(name []byte) error {
					if string(name) != "DETECTION" {
						return nil
					}
					return r.Children(func(name []byte) error {
						if string(name) != "QID" {
							return nil
						}
						q, err := r.ReadText()
						h.QIDs = append(h.QIDs, q)
						return err
					})
				})
			}
			return err
		})
		hosts = append(hosts, h)
		return err
	}})
	if err != nil || root != "OUT" {
		t.Fatalf("root %q err %v", root, err)
	}
	want := `[{2 café ac&amp; [7 8]} {3   []}]`
	if got := fmt.Sprint(hosts); got != want {
		t.Fatalf("hosts = %s, want %s", got, want)
	}
}

func TestAttrs(t *testing.T) {
	r := NewReader(strings.NewReader(`<a x:id="1&amp;2" plain='q'/>`), Options{})
	if k, err := r.Next(); k != StartElement || err != nil {
		t.Fatal(k, err)
	}
	if v, ok := r.Attr("id"); !ok || string(v) != "1&2" {
		t.Fatalf("id = %q %v", v, ok)
	}
	if v, ok := r.Attr("plain"); !ok || string(v) != "q" {
		t.Fatalf("plain = %q %v", v, ok)
	}
	if _, ok := r.Attr("none"); ok {
		t.Fatal("none found")
	}
	if k, _ := r.Next(); k != EndElement || string(r.Name()) != "a" {
		t.Fatalf("end: %v %q", k, r.Name())
	}
	if k, err := r.Next(); k != EOF || err != nil {
		t.Fatal(k, err)
	}
}

type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("connection reset by peer")
	}
	f.n--
	p[0] = '<'
	if len(p) > 1 {
		copy(p, "<a>")
		return 3, nil
	}
	return 1, nil
}

func TestSourceErrorIsKept(t *testing.T) {
	r := NewReader(&failing{n: 1}, Options{})
	var err error
	for err == nil {
		_, err = r.Next()
	}
	var xe *Error
	if errors.As(err, &xe) || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Fatalf("err = %v: a read error must stay a read error", err)
	}
	// A reader answering 0, nil forever is no progress, not a hang.
	r = NewReader(zeroReader{}, Options{})
	if _, err := r.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestNotAtStart(t *testing.T) {
	r := NewReader(strings.NewReader(`<a>x</a>`), Options{})
	if _, err := r.ReadText(); err == nil {
		t.Fatal("ReadText before a start element")
	}
}
