package scanner

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// ElementLimiter caps how many bytes one element of a streamed document may take: the
// decoder buffers an element while it decodes it, so a single huge element would otherwise
// be held whole in memory. Reset it before each element.
type ElementLimiter struct {
	R io.Reader
	// Max is the cap in bytes.
	Max  int64
	read int64
}

// ErrElementTooLarge is returned by an ElementLimiter past its cap.
var ErrElementTooLarge = errors.New("element too large")

func (l *ElementLimiter) Read(p []byte) (int, error) {
	if l.read >= l.Max {
		return 0, ErrElementTooLarge
	}
	if rem := l.Max - l.read; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.R.Read(p)
	l.read += int64(n)
	return n, err
}

// Reset starts a new element's allowance.
func (l *ElementLimiter) Reset() { l.read = 0 }

// XMLWalker streams an XML document: it calls a handler for each element it is asked about
// and checks that the document is complete (a truncated body is an error, never a short
// success).
type XMLWalker struct {
	Dec     *xml.Decoder
	Limiter *ElementLimiter
}

// NewXMLWalker returns a walker over r that allows elements of up to maxElement bytes.
func NewXMLWalker(r io.Reader, maxElement int64) *XMLWalker {
	l := &ElementLimiter{R: r, Max: maxElement}
	d := xml.NewDecoder(l)
	d.Strict = true
	return &XMLWalker{Dec: d, Limiter: l}
}

// Walk reads the whole document. For each start element whose name has a handler, it resets
// the element allowance and calls the handler, which must consume the element (DecodeElement
// or Skip). It returns the root element's name.
func (w *XMLWalker) Walk(handlers map[string]func(xml.StartElement) error) (string, error) {
	depth, root := 0, ""
	for {
		w.Limiter.Reset()
		tok, err := w.Dec.Token()
		if err == io.EOF {
			if root == "" {
				return "", errors.New("the body is empty: no XML document")
			}
			if depth != 0 {
				return root, fmt.Errorf("the document ends before </%s>: the body is truncated", root)
			}
			return root, nil
		}
		if err != nil {
			return root, w.describe(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root != "" {
					return root, fmt.Errorf("a second root element <%s> follows </%s>", t.Name.Local, root)
				}
				root = t.Name.Local
			}
			if h, ok := handlers[t.Name.Local]; ok && depth > 0 {
				w.Limiter.Reset()
				if err := h(t); err != nil {
					return root, w.describe(err)
				}
				continue
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

func (w *XMLWalker) describe(err error) error {
	line, _ := w.Dec.InputPos()
	switch {
	case errors.Is(err, ErrElementTooLarge):
		return fmt.Errorf("an element near line %d is larger than %d bytes", line, w.Limiter.Max)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the document ends inside an element near line %d: the body is truncated", line)
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if se.Msg == "unexpected EOF" {
			return fmt.Errorf("the document ends inside an element near line %d: the body is truncated", se.Line)
		}
		return fmt.Errorf("malformed XML at line %d: %s", se.Line, se.Msg)
	}
	return err
}
