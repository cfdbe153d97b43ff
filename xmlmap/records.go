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
	// leaf marks an element kept as context outside a record: a text-only element read
	// before the record below the same ancestor (a Qualys HOST's IP before its VULN_INFOs).
	leaf bool
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
// It is valid during the callback it is passed to: the reading goes on in the same tree.
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
	counts, err := RecordsAt(r, [][]string{path}, opts, func(_ int, rec *Record) error { return fn(rec) })
	return counts[0], err
}

// RecordsAt streams the file once, calling fn with the index of the path and the record for
// each element at one of paths (records of one path are numbered on their own). It returns
// how many records of each path it read. A record's tree holds the record element whole and
// its ancestors with their attributes only, so expressions such as ../../@address and
// /Report/@version reach outside the record.
func RecordsAt(r io.Reader, paths [][]string, opts ReadOptions, fn func(int, *Record) error) ([]int, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = 8 << 20
	}
	if opts.MaxRecordNodes <= 0 {
		opts.MaxRecordNodes = 100_000
	}
	x := xmlstream.NewReader(r, xmlstream.Options{MaxDepth: opts.MaxDepth})
	doc := &node{typ: xpath.RootNode}
	// open are the elements open outside records (attributes only), names their local names.
	var open []*node
	var names []string
	counts, root := make([]int, len(paths)), ""
	for {
		k, err := x.Next()
		if err != nil {
			return counts, &Error{Line: x.Line(), Err: err}
		}
		switch k {
		case xmlstream.EOF:
			if root == "" {
				return counts, &Error{Err: &xmlstream.Error{Kind: xmlstream.Empty}}
			}
			return counts, nil
		case xmlstream.Text:
			if len(open) == 0 && len(bytes.TrimSpace(x.Text())) > 0 {
				return counts, &Error{Line: x.Line(), Err: &xmlstream.Error{Kind: xmlstream.Malformed, Line: x.Line(), Msg: "text outside the root element: not an XML document"}}
			}
		case xmlstream.EndElement:
			open, names = open[:len(open)-1], names[:len(names)-1]
		case xmlstream.StartElement:
			parent := doc
			if len(open) == 0 {
				if root != "" {
					return counts, &Error{Line: x.Line(), Err: &xmlstream.Error{Kind: xmlstream.Malformed, Line: x.Line(),
						Msg: fmt.Sprintf("a second root element <%s> follows </%s>", x.Local(), root)}}
				}
				root = string(x.Local())
			} else {
				parent = open[len(open)-1]
			}
			names = append(names, string(x.Local()))
			at := pathIndexes(names, paths)
			onPath := len(at) > 0 || prefixOfAny(names, paths)
			names = names[:len(names)-1]
			if !onPath {
				// Nothing below is a record: keep it as context if it is a small text-only
				// element, skip it otherwise.
				if err := captureLeaf(x, parent); err != nil {
					return counts, err
				}
				continue
			}
			// The ancestor chain keeps the element being read below each ancestor and the
			// text-only elements before it.
			dropBranches(parent)
			if len(at) == 0 {
				n, _ := element(x, parent)
				open, names = append(open, n), append(names, n.local)
				continue
			}
			rec := &Record{Number: counts[at[0]] + 1, Line: x.Line(), doc: doc}
			if err := readRecord(x, rec, parent, opts); err != nil {
				return counts, err
			}
			for _, i := range at {
				counts[i]++
				rec.Number = counts[i]
				if err := fn(i, rec); err != nil {
					return counts, err
				}
			}
		}
	}
}

// Context limits: the text-only elements kept below one ancestor, and the size of each.
const (
	maxLeaves    = 256
	maxLeafBytes = 64 << 10
)

// prefixOfAny says whether the open elements lead to one of paths (are a proper prefix).
func prefixOfAny(open []string, paths [][]string) bool {
	for _, p := range paths {
		if len(p) > len(open) && samePath(open, p[:len(open)]) {
			return true
		}
	}
	return false
}

// dropBranches removes parent's children but the context leaves.
func dropBranches(parent *node) {
	kept := parent.children[:0]
	for _, c := range parent.children {
		if c.leaf {
			c.pos = len(kept)
			kept = append(kept, c)
		}
	}
	clear(parent.children[len(kept):])
	parent.children = kept
}

// captureLeaf reads the element just started, outside any record, to its end. A text-only
// element (no child elements, at most maxLeafBytes of text) becomes a context leaf of parent,
// while parent has fewer than maxLeaves; any other element is skipped.
func captureLeaf(x *xmlstream.Reader, parent *node) error {
	n, size := newElement(x)
	n.leaf = true
	var text strings.Builder
	keep, depth := true, 1
	for depth > 0 {
		k, err := x.Next()
		if err != nil {
			return &Error{Line: x.Line(), Err: err}
		}
		switch k {
		case xmlstream.EOF:
			return &Error{Line: x.Line(), Err: &xmlstream.Error{Kind: xmlstream.Truncated, Line: x.Line(), Msg: "the file ends inside <" + n.local + ">"}}
		case xmlstream.StartElement:
			depth++
			keep = false
		case xmlstream.EndElement:
			depth--
		case xmlstream.Text:
			if keep {
				size += len(x.Text())
				if size > maxLeafBytes {
					keep = false
				} else {
					text.Write(x.Text())
				}
			}
		}
	}
	if !keep || len(parent.children) >= maxLeaves {
		return nil
	}
	n.parent, n.pos = parent, len(parent.children)
	if text.Len() > 0 {
		n.children = []*node{{typ: xpath.TextNode, text: text.String(), parent: n}}
	}
	parent.children = append(parent.children, n)
	return nil
}

// pathIndexes are the indexes of the paths the open elements are at.
func pathIndexes(open []string, paths [][]string) []int {
	var at []int
	for i, p := range paths {
		if samePath(open, p) {
			at = append(at, i)
		}
	}
	return at
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

// newElement makes a node of the start element just read, with its attributes (namespace
// declarations left out); size is their bytes.
func newElement(x *xmlstream.Reader) (n *node, size int) {
	prefix, local := splitName(string(x.Name()))
	n = &node{typ: xpath.ElementNode, prefix: prefix, local: local}
	for _, a := range x.Attrs() {
		ap, al := splitName(string(a.Name))
		if ap == "xmlns" || (ap == "" && al == "xmlns") {
			continue
		}
		n.attrs = append(n.attrs, &node{typ: xpath.AttributeNode, prefix: ap, local: al, text: string(a.Value), parent: n})
		size += len(a.Value)
	}
	return n, size
}

// element makes the start element just read a child of parent; size is its attributes' bytes.
func element(x *xmlstream.Reader, parent *node) (n *node, size int) {
	n, size = newElement(x)
	n.parent, n.pos = parent, len(parent.children)
	parent.children = append(parent.children, n)
	return n, size
}

// readRecord reads the element just started, a child of parent, into rec's tree.
func readRecord(x *xmlstream.Reader, rec *Record, parent *node, opts ReadOptions) error {
	cur, size := element(x, parent)
	nodes := 1 + len(cur.attrs)
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
			n, sz := element(x, cur)
			cur, size, nodes = n, size+sz, nodes+1+len(n.attrs)
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
