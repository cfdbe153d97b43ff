// Package xmlmap maps the records of any XML file to Tributary's fields: a mapping names the
// element that is one record (an absolute path such as /NexposeReport/nodes/node) and, per
// target field, an XPath 1.0 expression relative to the record (attributes, text, child
// elements, functions such as concat, normalize-space, substring-before) with a type, a
// default, whether it is required, a maximum length, a value map and numeric range rules.
//
// The file is streamed with the project's XML reader ([xmlstream]): only one record is held
// in memory, as a small tree that github.com/antchfx/xpath evaluates the field expressions
// over. Records are capped in size; the reader's own checks (well-formedness, truncation,
// entities never expanded, declared encodings converted, nesting depth) apply to the whole
// file.
package xmlmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/antchfx/xpath"

	"github.com/tributary-io/tributary/xmlstream"
)

// node is an element, attribute or text of a record's tree.
type node struct {
	typ      xpath.NodeType
	prefix   string
	local    string
	text     string // a text node's or an attribute's value
	attrs    []*node
	parent   *node
	children []*node
	pos      int // index in parent.children
}

// value is the XPath string-value: a text or attribute's value, an element's descendant text.
func (n *node) value() string {
	switch n.typ {
	case xpath.TextNode, xpath.AttributeNode:
		return n.text
	}
	var b strings.Builder
	var walk func(*node)
	walk = func(n *node) {
		for _, c := range n.children {
			if c.typ == xpath.TextNode {
				b.WriteString(c.text)
			} else {
				walk(c)
			}
		}
	}
	walk(n)
	return b.String()
}

// navigator is an xpath.NodeNavigator over a record's tree.
type navigator struct {
	root, cur *node
	attr      int // index into cur.attrs when on an attribute, else -1
}

func (n *navigator) node() *node {
	if n.attr >= 0 {
		return n.cur.attrs[n.attr]
	}
	return n.cur
}

func (n *navigator) NodeType() xpath.NodeType { return n.node().typ }
func (n *navigator) LocalName() string        { return n.node().local }
func (n *navigator) Prefix() string           { return n.node().prefix }
func (n *navigator) Value() string            { return n.node().value() }
func (n *navigator) Copy() xpath.NodeNavigator {
	c := *n
	return &c
}
func (n *navigator) MoveToRoot() { n.cur, n.attr = n.root, -1 }
func (n *navigator) MoveToParent() bool {
	if n.attr >= 0 {
		n.attr = -1
		return true
	}
	if n.cur.parent == nil {
		return false
	}
	n.cur = n.cur.parent
	return true
}
func (n *navigator) MoveToNextAttribute() bool {
	if n.attr+1 >= len(n.cur.attrs) {
		return false
	}
	n.attr++
	return true
}
func (n *navigator) MoveToChild() bool {
	if n.attr >= 0 || len(n.cur.children) == 0 {
		return false
	}
	n.cur = n.cur.children[0]
	return true
}

// sibling moves by d among the current node's siblings.
func (n *navigator) sibling(d int) bool {
	if n.attr >= 0 || n.cur.parent == nil {
		return false
	}
	sib := n.cur.parent.children
	if j := n.cur.pos + d; j >= 0 && j < len(sib) {
		n.cur = sib[j]
		return true
	}
	return false
}
func (n *navigator) MoveToFirst() bool {
	if n.attr >= 0 || n.cur.parent == nil {
		return false
	}
	n.cur = n.cur.parent.children[0]
	return true
}
func (n *navigator) MoveToNext() bool     { return n.sibling(1) }
func (n *navigator) MoveToPrevious() bool { return n.sibling(-1) }
func (n *navigator) MoveTo(other xpath.NodeNavigator) bool {
	o, ok := other.(*navigator)
	if !ok || o.root != n.root {
		return false
	}
	*n = *o
	return true
}

// Record is one record of a file: its tree, where it starts, and its number (1 for the first).
type Record struct {
	Number int
	Line   int
	doc    *node // the document node holding the record element
	elem   *node
}

// ReadOptions bounds the reading of a file.
type ReadOptions struct {
	// MaxRecordBytes caps the text and attribute values of one record. Optional; defaults to
	// 8 MiB.
	MaxRecordBytes int
	// MaxRecordNodes caps the elements, attributes and texts of one record. Optional;
	// defaults to 100,000.
	MaxRecordNodes int
	// MaxDepth caps the nesting of the whole file. Optional; defaults to 256.
	MaxDepth int
}

var recordPath = regexp.MustCompile(`^(/[A-Za-z_][A-Za-z0-9_.\-]*(:[A-Za-z_][A-Za-z0-9_.\-]*)?)+$`)

// ParseRecordPath checks a record path (child steps from the root: /Report/hosts/host) and
// returns its local names.
func ParseRecordPath(p string) ([]string, error) {
	if !recordPath.MatchString(p) {
		return nil, errors.New("must be an absolute path of element names from the root, such as /NexposeReport/nodes/node " +
			"(a streaming reader finds records by their path; put conditions in the field expressions)")
	}
	steps := strings.Split(p[1:], "/")
	for i, s := range steps {
		if _, l, ok := strings.Cut(s, ":"); ok {
			steps[i] = l
		}
	}
	return steps, nil
}

// Error is a problem of the file itself (not of one record's values): malformed, truncated,
// a record over the caps. Nothing after it can be read.
type Error struct {
	Record int
	Line   int
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	where := ""
	if e.Record > 0 {
		where = fmt.Sprintf("record %d ", e.Record)
	}
	if e.Line > 0 {
		where += fmt.Sprintf("(line %d)", e.Line)
	}
	if where != "" {
		where = strings.TrimSpace(where) + ": "
	}
	if e.Err != nil {
		return where + e.Err.Error()
	}
	return where + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Records streams the file, calling fn for each element at path (local names from the root).
// It returns how many records it read. An error from fn stops the reading and is returned.
func Records(r io.Reader, path []string, opts ReadOptions, fn func(*Record) error) (int, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = 8 << 20
	}
	if opts.MaxRecordNodes <= 0 {
		opts.MaxRecordNodes = 100_000
	}
	x := xmlstream.NewReader(r, xmlstream.Options{MaxDepth: opts.MaxDepth})
	var open []string // local names of the open elements outside records
	count, root := 0, ""
	for {
		k, err := x.Next()
		if err != nil {
			return count, &Error{Line: x.Line(), Err: err}
		}
		switch k {
		case xmlstream.EOF:
			if root == "" {
				return count, &Error{Err: &xmlstream.Error{Kind: xmlstream.Empty}}
			}
			return count, nil
		case xmlstream.Text:
			if len(open) == 0 && len(bytes.TrimSpace(x.Text())) > 0 {
				return count, &Error{Line: x.Line(), Err: &xmlstream.Error{Kind: xmlstream.Malformed, Line: x.Line(), Msg: "text outside the root element: not an XML document"}}
			}
		case xmlstream.EndElement:
			open = open[:len(open)-1]
		case xmlstream.StartElement:
			if len(open) == 0 {
				if root != "" {
					return count, &Error{Line: x.Line(), Err: &xmlstream.Error{Kind: xmlstream.Malformed, Line: x.Line(),
						Msg: fmt.Sprintf("a second root element <%s> follows </%s>", x.Local(), root)}}
				}
				root = string(x.Local())
			}
			open = append(open, string(x.Local()))
			if !samePath(open, path) {
				continue
			}
			count++
			rec := &Record{Number: count, Line: x.Line()}
			if err := readRecord(x, rec, opts); err != nil {
				return count, err
			}
			open = open[:len(open)-1]
			if err := fn(rec); err != nil {
				return count, err
			}
		}
	}
}

func samePath(open, path []string) bool {
	if len(open) != len(path) {
		return false
	}
	for i := range open {
		if open[i] != path[i] {
			return false
		}
	}
	return true
}

// readRecord reads the element just started into rec's tree.
func readRecord(x *xmlstream.Reader, rec *Record, opts ReadOptions) error {
	rec.doc = &node{typ: xpath.RootNode}
	size, nodes := 0, 0
	start := func(parent *node) (*node, error) {
		prefix, local := splitName(string(x.Name()))
		n := &node{typ: xpath.ElementNode, prefix: prefix, local: local, parent: parent}
		for _, a := range x.Attrs() {
			ap, al := splitName(string(a.Name))
			if ap == "xmlns" || (ap == "" && al == "xmlns") {
				continue
			}
			n.attrs = append(n.attrs, &node{typ: xpath.AttributeNode, prefix: ap, local: al, text: string(a.Value), parent: n})
			size += len(a.Value)
		}
		nodes += 1 + len(n.attrs)
		n.pos = len(parent.children)
		parent.children = append(parent.children, n)
		return n, nil
	}
	cur, _ := start(rec.doc)
	rec.elem = cur
	for {
		if size > opts.MaxRecordBytes || nodes > opts.MaxRecordNodes {
			return &Error{Record: rec.Number, Line: rec.Line,
				Msg: fmt.Sprintf("the record is larger than the limit of %d bytes or %d nodes", opts.MaxRecordBytes, opts.MaxRecordNodes)}
		}
		k, err := x.Next()
		if err != nil {
			return &Error{Record: rec.Number, Line: x.Line(), Err: err}
		}
		switch k {
		case xmlstream.EOF:
			return &Error{Record: rec.Number, Line: x.Line(), Msg: "the file ends inside the record"}
		case xmlstream.StartElement:
			cur, _ = start(cur)
		case xmlstream.EndElement:
			if cur == rec.elem {
				return nil
			}
			cur = cur.parent
		case xmlstream.Text:
			t := string(x.Text())
			size += len(t)
			nodes++
			if last := len(cur.children) - 1; last >= 0 && cur.children[last].typ == xpath.TextNode {
				cur.children[last].text += t
			} else {
				cur.children = append(cur.children, &node{typ: xpath.TextNode, text: t, parent: cur, pos: len(cur.children)})
			}
		}
	}
}

func splitName(name string) (prefix, local string) {
	if p, l, ok := strings.Cut(name, ":"); ok {
		return p, l
	}
	return "", name
}
