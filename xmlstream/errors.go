package xmlstream

import (
	"errors"
	"fmt"
)

// ErrorKind says what is wrong with a document.
type ErrorKind uint8

// Kinds of Error.
const (
	// Malformed: the document breaks the XML rules.
	Malformed ErrorKind = iota + 1
	// Truncated: the document ends inside an element or a piece of markup.
	Truncated
	// TooLarge: one element (or one token) is larger than Options.MaxElementBytes.
	TooLarge
	// Unsupported: the document may be well-formed, but uses a construct this reader refuses
	// (elements nested deeper than Options.MaxDepth, a DOCTYPE internal subset that quotes
	// markup characters, directives other than DOCTYPE, an XML declaration that is not at the
	// start, an encoding other than UTF-8, ISO-8859-1 and Windows-1252).
	Unsupported
	// Empty: the input holds no element at all.
	Empty
)

// Error is a reader error with the line (1-based) where it was found.
type Error struct {
	Kind ErrorKind
	Line int
	// Msg says what is wrong, without the line.
	Msg string
	// Limit is the cap an element exceeded (TooLarge only).
	Limit int64
}

func (e *Error) Error() string {
	switch e.Kind {
	case Truncated:
		return fmt.Sprintf("the document ends inside %s near line %d: the body is truncated", e.Msg, e.Line)
	case TooLarge:
		return fmt.Sprintf("an element near line %d is larger than %d bytes", e.Line, e.Limit)
	case Unsupported:
		return fmt.Sprintf("unsupported XML at line %d: %s", e.Line, e.Msg)
	case Empty:
		return "the body is empty: no XML document"
	}
	return fmt.Sprintf("malformed XML at line %d: %s", e.Line, e.Msg)
}

// Is reports whether target is the sentinel of e's kind (ErrTruncated, ErrTooLarge, ...).
func (e *Error) Is(target error) bool {
	k, ok := sentinels[target]
	return ok && k == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrMalformed   = errors.New("malformed XML")
	ErrTruncated   = errors.New("truncated XML")
	ErrTooLarge    = errors.New("XML element too large")
	ErrUnsupported = errors.New("unsupported XML")
	ErrEmpty       = errors.New("empty XML document")
)

var sentinels = map[error]ErrorKind{
	ErrMalformed: Malformed, ErrTruncated: Truncated, ErrTooLarge: TooLarge, ErrUnsupported: Unsupported, ErrEmpty: Empty,
}

// errReadAhead is what the source returns to the tokenizer when it would buffer more than
// an element may take.
var errReadAhead = errors.New("xmlstream: read-ahead cap reached")
