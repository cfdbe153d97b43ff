// Package xmlstream is the project's one streaming XML reader: fast, and as strict as
// encoding/xml's Strict mode.
//
// Markup is found by github.com/orisano/gosax, a tokenizer that scans a sliding buffer
// several bytes at a time but checks almost nothing. This package checks everything
// encoding/xml checks: names, attribute syntax, that end tags match a stack of open
// elements, entities (the five predefined ones and character references; any other is
// refused, and DTDs are never read or expanded), CDATA taken literally, line ends
// normalised, every character valid UTF-8 in the XML range, and EOF inside an element or
// markup reported as truncation. It adds caps on element size and nesting depth, and
// honours the declared encoding (ISO-8859-1 and Windows-1252 are converted to UTF-8).
//
// Comments, processing instructions and the DOCTYPE are checked and skipped; [Reader.Next]
// returns start elements, end elements and character data.
package xmlstream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/orisano/gosax"
)

// Options configures a Reader.
type Options struct {
	// MaxElementBytes caps one element handled by [Reader.Walk], and any single token
	// elsewhere, so that a huge element is never held in memory. Optional; defaults to 8 MiB.
	MaxElementBytes int64
	// MaxDepth caps how deeply elements nest. Optional; defaults to 256.
	MaxDepth int
	// BufferSize is the size of the read buffer. Optional; defaults to 256 KiB.
	BufferSize int
}

// Kind is the kind of a token.
type Kind uint8

// Token kinds.
const (
	// EOF: the document ended cleanly (no element open).
	EOF Kind = iota
	// StartElement: Name, Local and Attrs describe it. A self-closing element is a
	// StartElement followed by an EndElement.
	StartElement
	// EndElement: Name and Local describe it.
	EndElement
	// Text: character data (text with entities decoded, or a CDATA section taken literally).
	Text
)

// Attr is an attribute of a start element: its qualified name and its decoded value.
type Attr struct {
	Name  []byte
	Value []byte
}

// Local is the attribute's local name (without a namespace prefix).
func (a Attr) Local() []byte { return local(a.Name) }

// Reader reads one XML document token by token. Slices it returns are valid until the next
// call that reads.
type Reader struct {
	opts Options
	in   io.Reader
	src  source
	gs   *gosax.Reader
	init bool
	err  error

	kind   Kind
	name   []byte
	attrs  []Attr
	text   []byte
	depth  int
	closeN bool // a self-closing element's end is due

	stack  []byte // names of open elements, back to back
	ends   []int  // end offset in stack of each open name
	offset int64  // bytes consumed
	tokAt  int64  // offset of the current token
	line   int    // line of the current token
	nextLn int    // line after the current token
	mark   int64  // offset that the element cap counts from
	held   bool   // a Walk handler holds an element: mark stays

	buf       []byte // decoded text
	attrBuf   []byte
	attrOff   []int
	scratch   []byte
	names     map[string]bool // non-ASCII names checked
	declSeen  bool
	declLabel string
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader, opts Options) *Reader {
	if opts.MaxElementBytes <= 0 {
		opts.MaxElementBytes = 8 << 20
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = 256
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 256 << 10
	}
	return &Reader{opts: opts, in: r, line: 1, nextLn: 1}
}

// source feeds the tokenizer: it counts bytes and refuses to read further ahead than the
// element cap allows.
type source struct {
	r     io.Reader
	read  int64
	limit int64
	err   error // the first error of r other than io.EOF
	// prolog keeps what was read before the root element (up to maxProlog), so that a
	// truncation there can be told apart from a DOCTYPE that the tokenizer misreads.
	prolog    []byte
	recording bool
}

const maxProlog = 1 << 20

func (s *source) Read(p []byte) (int, error) {
	if s.read >= s.limit {
		return 0, errReadAhead
	}
	if rem := s.limit - s.read; int64(len(p)) > rem {
		p = p[:rem]
	}
	for range 100 {
		n, err := s.r.Read(p)
		s.read += int64(n)
		if s.recording {
			if len(s.prolog)+n > maxProlog {
				s.recording, s.prolog = false, nil
			} else {
				s.prolog = append(s.prolog, p[:n]...)
			}
		}
		if err != nil && err != io.EOF && s.err == nil {
			s.err = err
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	s.err = io.ErrNoProgress
	return 0, s.err
}

func (r *Reader) start() error {
	r.init = true
	br := bufio.NewReaderSize(r.in, declPeek)
	in, label, err := sniff(br)
	if err != nil {
		return &Error{Kind: Unsupported, Line: 1, Msg: err.Error()}
	}
	r.declLabel = label
	r.src = source{r: in, limit: r.opts.MaxElementBytes + int64(r.opts.BufferSize), recording: true}
	r.gs = gosax.NewReaderSize(&r.src, r.opts.BufferSize)
	return nil
}

// Name is the current element's qualified name (StartElement, EndElement).
func (r *Reader) Name() []byte { return r.name }

// Local is the current element's local name: its name without a namespace prefix, as
// encoding/xml's Name.Local.
func (r *Reader) Local() []byte { return local(r.name) }

// Attrs are the current start element's attributes.
func (r *Reader) Attrs() []Attr { return r.attrs }

// Attr returns the value of the current start element's attribute whose local name is name.
func (r *Reader) Attr(name string) ([]byte, bool) {
	for _, a := range r.attrs {
		if string(a.Local()) == name {
			return a.Value, true
		}
	}
	return nil, false
}

// Text is the current character data (Text).
func (r *Reader) Text() []byte { return r.text }

// Line is the line on which the current token starts (1 for the first).
func (r *Reader) Line() int { return r.line }

func local(name []byte) []byte {
	if i := bytes.IndexByte(name, ':'); i > 0 && i < len(name)-1 {
		return name[i+1:]
	}
	return name
}

func (r *Reader) fail(kind ErrorKind, format string, args ...any) error {
	r.err = &Error{Kind: kind, Line: r.line, Msg: fmt.Sprintf(format, args...), Limit: r.opts.MaxElementBytes}
	return r.err
}

func (r *Reader) truncated() error {
	what := "an element"
	if r.depth > 0 {
		what = "<" + string(r.top()) + ">"
	}
	return r.fail(Truncated, "%s", what)
}

func (r *Reader) top() []byte {
	if len(r.ends) == 0 {
		return nil
	}
	from := 0
	if len(r.ends) > 1 {
		from = r.ends[len(r.ends)-2]
	}
	return r.stack[from:r.ends[len(r.ends)-1]]
}

// Next reads the next token. After an error, it returns that error again.
func (r *Reader) Next() (Kind, error) {
	if r.err != nil {
		return EOF, r.err
	}
	if !r.init {
		if err := r.start(); err != nil {
			r.err = err
			return EOF, err
		}
	}
	if r.closeN {
		r.closeN = false
		r.pop()
		r.kind, r.attrs = EndElement, nil
		return EndElement, nil
	}
	for {
		r.tokAt, r.line = r.offset, r.nextLn
		if !r.held {
			r.mark = r.tokAt
		}
		r.src.limit = r.mark + r.opts.MaxElementBytes + int64(r.opts.BufferSize)
		ev, err := r.gs.Event()
		if err != nil {
			return EOF, r.readError(err)
		}
		b := ev.Bytes
		r.offset += int64(len(b))
		if r.offset-r.mark > r.opts.MaxElementBytes {
			return EOF, r.fail(TooLarge, "element too large")
		}
		switch ev.Type() {
		case gosax.EventText:
			return r.charData(b)
		case gosax.EventCData:
			return r.cdata(b)
		case gosax.EventStart:
			return r.startElement(b)
		case gosax.EventEnd:
			return r.endElement(b)
		case gosax.EventComment, gosax.EventProcessingInstruction, gosax.EventDocType:
			r.nextLn += bytes.Count(b, []byte{'\n'})
			if err := r.markup(ev.Type(), b); err != nil {
				return EOF, err
			}
		case gosax.EventEOF:
			if r.depth > 0 {
				return EOF, r.truncated()
			}
			r.kind = EOF
			return EOF, nil
		default:
			return EOF, r.fail(Malformed, "unexpected markup")
		}
	}
}

// SourceError is a failure to read the document itself (the connection dropped or cut the
// body short, the file could not be read), as opposed to a document that is wrong: another
// attempt may well succeed.
type SourceError struct {
	// Line is the line the reader had reached.
	Line int
	// Err is the source's error.
	Err error
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("reading the document near line %d: %v", e.Line, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

func (r *Reader) readError(err error) error {
	switch {
	case r.src.err != nil:
		r.err = &SourceError{Line: r.line, Err: r.src.err}
		return r.err
	case errors.Is(err, errReadAhead):
		return r.fail(TooLarge, "element too large")
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		if r.src.recording && r.offset < int64(len(r.src.prolog)) {
			// Before the root: gosax counts quoted < in a DOCTYPE, so it may look for a > past
			// the end where encoding/xml would have ended the DOCTYPE.
			if rest := r.src.prolog[r.offset:]; bytes.HasPrefix(rest, []byte("<!")) && directiveEnd(rest[2:]) >= 0 {
				return r.fail(Unsupported, "a DOCTYPE whose internal subset quotes < or > or holds comments")
			}
		}
		return r.truncated()
	case strings.HasPrefix(err.Error(), "unknown bang type"):
		return r.fail(Unsupported, "only comments, CDATA sections and a DOCTYPE may start with <!")
	}
	return r.fail(Malformed, "%v", err)
}

func (r *Reader) push(name []byte) {
	r.stack = append(r.stack, name...)
	r.ends = append(r.ends, len(r.stack))
	r.depth++
}

func (r *Reader) pop() {
	r.ends = r.ends[:len(r.ends)-1]
	n := 0
	if len(r.ends) > 0 {
		n = r.ends[len(r.ends)-1]
	}
	r.stack = r.stack[:n]
	r.depth--
}

func (r *Reader) startElement(b []byte) (Kind, error) {
	b = b[1 : len(b)-1] // < and >
	empty := len(b) > 0 && b[len(b)-1] == '/'
	if empty {
		b = b[:len(b)-1]
	}
	n, err := r.name1(b, "expected element name after <")
	if err != nil {
		return EOF, err
	}
	name := b[:n]
	r.attrs = r.attrs[:0]
	r.attrBuf = r.attrBuf[:0]
	r.attrOff = r.attrOff[:0]
	i := n
	for {
		i = r.space(b, i)
		if i == len(b) {
			break
		}
		if b[i] == '/' {
			return EOF, r.fail(Malformed, "expected /> in element")
		}
		an, err := r.name1(b[i:], "expected attribute name in element")
		if err != nil {
			return EOF, err
		}
		aname := b[i : i+an]
		i = r.space(b, i+an)
		if i == len(b) || b[i] != '=' {
			return EOF, r.fail(Malformed, "attribute name without = in element")
		}
		i = r.space(b, i+1)
		if i == len(b) || (b[i] != '"' && b[i] != '\'') {
			return EOF, r.fail(Malformed, "unquoted or missing attribute value in element")
		}
		q := b[i]
		j := bytes.IndexByte(b[i+1:], q)
		if j < 0 {
			return EOF, r.fail(Malformed, "unterminated attribute value in element")
		}
		raw := b[i+1 : i+1+j]
		i += j + 2
		if bytes.IndexByte(raw, '<') >= 0 {
			return EOF, r.fail(Malformed, "unescaped < inside quoted string")
		}
		from := len(r.attrBuf)
		r.nextLn += bytes.Count(raw, []byte{'\n'})
		if r.attrBuf, err = r.decode(r.attrBuf, raw); err != nil {
			return EOF, err
		}
		r.attrs = append(r.attrs, Attr{Name: aname})
		r.attrOff = append(r.attrOff, from, len(r.attrBuf))
	}
	for k := range r.attrs {
		r.attrs[k].Value = r.attrBuf[r.attrOff[2*k]:r.attrOff[2*k+1]]
	}
	if r.depth >= r.opts.MaxDepth {
		return EOF, r.fail(Unsupported, "elements nest deeper than %d levels", r.opts.MaxDepth)
	}
	if r.src.recording {
		r.src.recording, r.src.prolog = false, nil
	}
	r.push(name)
	r.name = r.top()
	r.kind = StartElement
	r.closeN = empty
	return StartElement, nil
}

// space skips white space in a tag from i, counting lines.
func (r *Reader) space(b []byte, i int) int {
	for ; i < len(b) && isSpace(b[i]); i++ {
		if b[i] == '\n' {
			r.nextLn++
		}
	}
	return i
}

func (r *Reader) endElement(b []byte) (Kind, error) {
	b = b[2 : len(b)-1] // </ and >
	open := r.top()
	// The usual case: the open element's name (checked at its start), then > or white space.
	if len(open) > 0 && len(b) >= len(open) && string(b[:len(open)]) == string(open) && (len(b) == len(open) || !isNameByte(b[len(open)]) && b[len(open)] < utf8.RuneSelf) {
		if i := r.space(b, len(open)); i != len(b) {
			return EOF, r.fail(Malformed, "invalid characters between </%s and >", local(open))
		}
	} else {
		n, err := r.name1(b, "expected element name after </")
		if err != nil {
			return EOF, err
		}
		name := b[:n]
		if i := r.space(b, n); i != len(b) {
			return EOF, r.fail(Malformed, "invalid characters between </%s and >", local(name))
		}
		if r.depth == 0 {
			return EOF, r.fail(Malformed, "unexpected end element </%s>", local(name))
		}
		return EOF, r.fail(Malformed, "element <%s> closed by </%s>", open, name)
	}
	// The name stays readable until the next token: pop only shortens the stack.
	r.name = open
	r.pop()
	r.kind, r.attrs = EndElement, nil
	return EndElement, nil
}

func (r *Reader) charData(b []byte) (Kind, error) {
	lines, plain, err := r.scanText(b, true)
	if err != nil {
		return EOF, err
	}
	r.nextLn += lines
	if plain {
		r.text = b
	} else {
		if r.buf, err = r.decode(r.buf[:0], b); err != nil {
			return EOF, err
		}
		r.text = r.buf
	}
	r.kind = Text
	return Text, nil
}

// textClass marks the bytes that text scanning must look at: 1 for what needs decoding (&,
// \r), 2 for ] (the start of a forbidden ]]>), 4 for \n, 8 for other control characters,
// 16 for the start of a multi-byte character.
var textClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = 8
	}
	t['\t'], t['\n'], t['\r'] = 0, 4, 1
	t['&'], t[']'] = 1, 2
	for c := 0x80; c < 0x100; c++ {
		t[c] = 16
	}
	return t
}()

// scanText checks text in one pass: valid characters and, when raw is true (text as it
// stands in the document), no ]]>. It returns the newlines it holds and whether it needs no
// decoding (no entity, no carriage return).
func (r *Reader) scanText(b []byte, raw bool) (lines int, plain bool, err error) {
	const ones, hi = 0x0101010101010101, 0x8080808080808080
	plain = true
	i := 0
	for i < len(b) {
		// Eight plain bytes at a time: 0x20-0x7F except & and ].
		for ; i+8 <= len(b); i += 8 {
			v := binary.LittleEndian.Uint64(b[i:])
			amp, br := v^(ones*'&'), v^(ones*']')
			if v&hi != 0 || ((v|hi)-ones*0x20)&hi != hi || (amp-ones)&^amp&hi != 0 || (br-ones)&^br&hi != 0 {
				break
			}
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch textClass[c] {
		case 0:
			i++
		case 1:
			plain = false
			i++
		case 2:
			if raw && i+2 < len(b) && b[i+1] == ']' && b[i+2] == '>' {
				return lines, plain, r.fail(Malformed, "unescaped ]]> not in CDATA section")
			}
			i++
		case 4:
			lines++
			i++
		case 8:
			return lines, plain, r.fail(Malformed, "illegal character code %U", rune(c))
		default:
			ru, size := utf8.DecodeRune(b[i:])
			if ru == utf8.RuneError && size == 1 {
				return lines, plain, r.fail(Malformed, "invalid UTF-8")
			}
			if !isInCharacterRange(ru) {
				return lines, plain, r.fail(Malformed, "illegal character code %U", ru)
			}
			i += size
		}
	}
	return lines, plain, nil
}

// checkChars requires b (decoded text or a CDATA section) to be UTF-8 of characters in the
// XML range, and returns the newlines it holds.
func (r *Reader) checkChars(b []byte) (int, error) {
	lines, _, err := r.scanText(b, false)
	return lines, err
}

func (r *Reader) cdata(b []byte) (Kind, error) {
	const open, end = "<![CDATA[", "]]>"
	if len(b) < len(open)+len(end) || string(b[:len(open)]) != open {
		return EOF, r.fail(Malformed, "invalid <![ sequence")
	}
	b = b[len(open) : len(b)-len(end)]
	cr := bytes.IndexByte(b, '\r') >= 0
	if cr {
		// Lines are counted in the document, before a lone \r becomes a \n.
		r.nextLn += bytes.Count(b, []byte{'\n'})
		r.buf = appendNewlines(r.buf[:0], b)
		b = r.buf
	}
	lines, err := r.checkChars(b)
	if err != nil {
		return EOF, err
	}
	if !cr {
		r.nextLn += lines
	}
	r.text = b
	r.kind = Text
	return Text, nil
}

// markup checks a comment, a processing instruction or a DOCTYPE, which are skipped.
func (r *Reader) markup(typ uint8, b []byte) error {
	switch typ {
	case gosax.EventComment:
		return r.comment(b)
	case gosax.EventProcessingInstruction:
		return r.procInst(b)
	}
	return r.directive(b)
}

func (r *Reader) comment(b []byte) error {
	if len(b) < 4 || b[3] != '-' {
		return r.fail(Malformed, "invalid sequence <!- not part of <!--")
	}
	if len(b) < 7 {
		// gosax ended the comment at a --> that overlaps its <!--.
		return r.fail(Unsupported, "a comment that starts with <!--->")
	}
	if i := bytes.Index(b[4:], []byte("--")); i != len(b)-4-3 {
		return r.fail(Malformed, `invalid sequence "--" not allowed in comments`)
	}
	return nil
}

func (r *Reader) procInst(b []byte) error {
	body := b[2 : len(b)-2] // <? and ?>
	n := nameLen(body)
	if n == 0 {
		return r.fail(Malformed, "expected target name after <?")
	}
	target := body[:n]
	if !r.isName(target) {
		return r.fail(Malformed, "invalid XML name: %s", target)
	}
	if string(target) != "xml" {
		return nil
	}
	content := string(bytes.TrimLeft(body[n:], " \t\r\n"))
	if ver := procInst("version", content); ver != "" && ver != "1.0" {
		return r.fail(Malformed, "unsupported version %q; only version 1.0 is supported", ver)
	}
	// The declared encoding was read before tokenizing (sniff); a declaration found later may
	// not ask for another one.
	enc := procInst("encoding", content)
	switch {
	case enc == "", isUTF8Label(enc) && isUTF8Label(r.declLabel):
	case !r.declSeen && normLabel(enc) == normLabel(r.declLabel):
	default:
		return r.fail(Unsupported, "an XML declaration of encoding %q that is not at the start of the document", enc)
	}
	r.declSeen = true
	return nil
}

// directive checks a <!DOCTYPE ...>: it is skipped, never read, but it must end where
// encoding/xml would end it (quoted angle brackets do not nest; comments inside do not count).
func (r *Reader) directive(b []byte) error {
	if directiveEnd(b[2:]) != len(b)-3 {
		return r.fail(Unsupported, "a DOCTYPE whose internal subset quotes < or > or holds comments")
	}
	return nil
}

// directiveEnd returns the index of the > that ends a directive's body b (after <!), as
// encoding/xml finds it, or -1.
func directiveEnd(b []byte) int {
	inquote := byte(0)
	depth := 0
	for i := 1; i < len(b); i++ {
		c := b[i]
		if inquote == 0 && c == '>' && depth == 0 {
			return i
		}
		switch {
		case c == inquote:
			inquote = 0
		case inquote != 0:
		case c == '\'' || c == '"':
			inquote = c
		case c == '>':
			depth--
		case c == '<':
			if bytes.HasPrefix(b[i+1:], []byte("!--")) {
				end := bytes.Index(b[i+4:], []byte("-->"))
				if end < 0 {
					return -1
				}
				i += 4 + end + 2
				continue
			}
			depth++
		}
	}
	return -1
}

// decode appends raw text with entities decoded and line ends normalised, then checks the
// characters of what it appended.
func (r *Reader) decode(dst, raw []byte) ([]byte, error) {
	from := len(dst)
	for len(raw) > 0 {
		i := bytes.IndexAny(raw, "&\r")
		if i < 0 {
			dst = append(dst, raw...)
			break
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i:]
		if raw[0] == '\r' {
			dst = append(dst, '\n')
			raw = raw[1:]
			if len(raw) > 0 && raw[0] == '\n' {
				raw = raw[1:]
			}
			continue
		}
		var err error
		if dst, raw, err = r.entity(dst, raw); err != nil {
			return dst, err
		}
	}
	_, err := r.checkChars(dst[from:])
	return dst, err
}

var predefined = map[string]byte{"lt": '<', "gt": '>', "amp": '&', "apos": '\'', "quot": '"'}

// entity decodes the entity reference at the start of raw (which starts with &).
func (r *Reader) entity(dst, raw []byte) ([]byte, []byte, error) {
	i := 1
	if i < len(raw) && raw[i] == '#' {
		i++
		base := 10
		if i < len(raw) && raw[i] == 'x' {
			base = 16
			i++
		}
		start := i
		for i < len(raw) && (raw[i] >= '0' && raw[i] <= '9' || base == 16 && (raw[i] >= 'a' && raw[i] <= 'f' || raw[i] >= 'A' && raw[i] <= 'F')) {
			i++
		}
		if i < len(raw) && raw[i] == ';' {
			if n, err := strconv.ParseUint(string(raw[start:i]), base, 64); err == nil && n <= unicode.MaxRune {
				return utf8.AppendRune(dst, rune(n)), raw[i+1:], nil
			}
			i++
		}
		return dst, raw, r.badEntity(raw[:i])
	}
	n := nameLen(raw[i:])
	i += n
	if i < len(raw) && raw[i] == ';' {
		name := raw[1:i]
		if c, ok := predefined[string(name)]; ok {
			return append(dst, c), raw[i+1:], nil
		}
		i++
	}
	return dst, raw, r.badEntity(raw[:i])
}

func (r *Reader) badEntity(ent []byte) error {
	s := string(ent)
	if !strings.HasSuffix(s, ";") {
		s += " (no semicolon)"
	}
	return r.fail(Malformed, "invalid character entity %s (only &lt; &gt; &amp; &apos; &quot; and character references are read)", s)
}

func isInCharacterRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

func appendNewlines(dst, b []byte) []byte {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(append(dst, b[:i]...), '\n')
		b = b[i+1:]
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		}
	}
	return dst
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == ':' || c == '.' || c == '-'
}

// nameLen is the length of the name at the start of b, delimited as encoding/xml delimits
// names: by any ASCII byte that cannot be in a name.
func nameLen(b []byte) int {
	for i, c := range b {
		if c < utf8.RuneSelf && !isNameByte(c) {
			return i
		}
	}
	return len(b)
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// nameClass marks ASCII name bytes: 1 for any name byte, 2 for one that may start a name.
var nameClass = func() (t [256]uint8) {
	for c := range 0x80 {
		if isNameByte(byte(c)) {
			t[c] = 1
		}
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == ':' {
			t[c] = 3
		}
	}
	return t
}()

// name1 returns the length of the element or attribute name at the start of b, checked as
// encoding/xml checks it; missing is the message when there is none.
func (r *Reader) name1(b []byte, missing string) (int, error) {
	if len(b) == 0 || nameClass[b[0]]&2 == 0 && b[0] < utf8.RuneSelf {
		if len(b) > 0 && nameClass[b[0]] != 0 {
			n := nameLen(b)
			return n, r.fail(Malformed, "invalid XML name: %s", b[:n])
		}
		return 0, r.fail(Malformed, "%s", missing)
	}
	colons := 0
	i := 0
	for ; i < len(b); i++ {
		c := b[i]
		if c >= utf8.RuneSelf {
			n := nameLen(b)
			return n, r.checkName(b[:n], missing)
		}
		if nameClass[c] == 0 {
			break
		}
		if c == ':' {
			colons++
		}
	}
	if colons > 1 {
		return i, r.fail(Malformed, "%s", missing)
	}
	return i, nil
}

// checkName requires an element or attribute name to be a valid XML name with at most one
// colon.
func (r *Reader) checkName(name []byte, missing string) error {
	if !r.isName(name) {
		return r.fail(Malformed, "invalid XML name: %s", name)
	}
	if bytes.Count(name, []byte{':'}) > 1 {
		return r.fail(Malformed, "%s", missing)
	}
	return nil
}

// isName reports whether name is an XML name. ASCII names are checked here; a name with
// other characters is checked by encoding/xml itself (its Unicode tables), once per name.
func (r *Reader) isName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	if ascii(name) {
		// nameLen delimited the name, so every byte is a name byte.
		return nameClass[name[0]]&2 != 0
	}
	if ok, seen := r.names[string(name)]; seen {
		return ok
	}
	d := xml.NewDecoder(strings.NewReader("<?" + string(name) + "?>"))
	_, err := d.RawToken()
	ok := err == nil
	if r.names == nil {
		r.names = map[string]bool{}
	}
	if len(r.names) < 4096 {
		r.names[string(name)] = ok
	}
	return ok
}
