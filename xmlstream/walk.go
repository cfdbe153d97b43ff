package xmlstream

import "errors"

var errNotAtStart = errors.New("xmlstream: called when the current token is not a start element")

// Skip consumes the rest of the element whose start was just read, children included.
func (r *Reader) Skip() error {
	if r.kind != StartElement {
		return errNotAtStart
	}
	return r.finish(r.depth)
}

// finish reads on until the element at depth d (open now) has ended.
func (r *Reader) finish(d int) error {
	for r.depth >= d {
		if _, err := r.Next(); err != nil {
			return err
		}
	}
	return nil
}

// AppendText appends the character data of the element whose start was just read and
// consumes the element. As with an encoding/xml string field, only the element's own text
// counts: child elements are skipped with their text.
func (r *Reader) AppendText(dst []byte) ([]byte, error) {
	if r.kind != StartElement {
		return dst, errNotAtStart
	}
	d := r.depth
	for {
		k, err := r.Next()
		if err != nil {
			return dst, err
		}
		switch k {
		case Text:
			dst = append(dst, r.text...)
		case StartElement:
			if err := r.finish(r.depth); err != nil {
				return dst, err
			}
		case EndElement:
			if r.depth < d {
				return dst, nil
			}
		}
	}
}

// ReadText returns the character data of the element whose start was just read (as
// AppendText) and consumes the element.
func (r *Reader) ReadText() (string, error) {
	var err error
	r.scratch, err = r.AppendText(r.scratch[:0])
	if err != nil {
		return "", err
	}
	return string(r.scratch), nil
}

// Children reads the element whose start was just read, calling fn with the local name of
// each child element when its start has been read. fn may consume the child (ReadText,
// Skip, Children); whatever of it fn leaves is skipped. The element's own text is ignored.
func (r *Reader) Children(fn func(local []byte) error) error {
	if r.kind != StartElement {
		return errNotAtStart
	}
	d := r.depth
	for {
		k, err := r.Next()
		if err != nil {
			return err
		}
		switch k {
		case StartElement:
			cd := r.depth
			if err := fn(r.Local()); err != nil {
				return err
			}
			if err := r.finish(cd); err != nil {
				return err
			}
		case EndElement:
			if r.depth < d {
				return nil
			}
		}
	}
}

// Walk reads the whole document. For each element below the root whose local name has a
// handler, it calls the handler when the element's start has been read; the handler may
// consume the element (ReadText, Children, Skip), and whatever it leaves is skipped. A
// handled element may take at most Options.MaxElementBytes. Walk returns the root element's
// local name; a document without an element, or with a second root, is an error.
func (r *Reader) Walk(handlers map[string]func() error) (string, error) {
	root := ""
	for {
		k, err := r.Next()
		if err != nil {
			return root, err
		}
		switch k {
		case EOF:
			if root == "" {
				return "", &Error{Kind: Empty, Line: r.line}
			}
			return root, nil
		case StartElement:
			if r.depth == 1 {
				if root != "" {
					return root, r.fail(Malformed, "a second root element <%s> follows </%s>", r.Local(), root)
				}
				root = string(r.Local())
				continue
			}
			h, ok := handlers[string(r.Local())]
			if !ok {
				continue
			}
			if err := r.hold(h); err != nil {
				return root, err
			}
		}
	}
}

// hold runs a handler on the element just started, counting the element cap from its start.
func (r *Reader) hold(h func() error) error {
	d := r.depth
	r.held, r.mark = true, r.tokAt
	defer func() { r.held = false }()
	if err := h(); err != nil {
		return err
	}
	return r.finish(d)
}
