package valid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeJSON decodes exactly one JSON value from data into v, rejecting unknown fields and
// trailing data. Problems come back as an *Error whose field paths start with prefix.
func DecodeJSON(prefix string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(prefix, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Field(orRoot(prefix), "unexpected data after the JSON value")
	}
	return nil
}

func describeJSONError(prefix string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return Field(orRoot(prefix), "a JSON value is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Field(orRoot(prefix), "the JSON value is truncated")
	case errors.As(err, &syn):
		return Field(orRoot(prefix), "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return Field(orRoot(prefix), "must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return Field(Join(prefix, field), "must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" { // {"": …}: there is no path to name
			return Field(orRoot(prefix), `has a field with an empty name ("")`)
		}
		return Field(Join(prefix, name), "is not a known field")
	}
	var ve *Error
	if errors.As(err, &ve) {
		return Prefix(prefix, ve)
	}
	return Field(orRoot(prefix), "invalid JSON: %s", err.Error())
}

func orRoot(prefix string) string {
	if prefix == "" {
		return "body"
	}
	return prefix
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	}
	return fmt.Sprint(goKind)
}
