// Package valid checks input structs with validator tags and reports every bad field by its
// JSON path, so that an API client or an operator learns exactly what to fix.
package valid

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

// FieldError names one bad field by its JSON path (for example "config.headers[0].name").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a failed validation with every bad field.
type Error struct {
	Fields []FieldError
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// FieldErrors returns the field errors of err when it is (or wraps) an *Error that names at
// least one field with a message: the API answers those with 400. Any other error is a 500.
func FieldErrors(err error) ([]FieldError, bool) {
	var ve *Error
	if !errors.As(err, &ve) || len(ve.Fields) == 0 {
		return nil, false
	}
	for _, f := range ve.Fields {
		if f.Field == "" || f.Message == "" {
			return nil, false
		}
	}
	return ve.Fields, true
}

// Fields returns an *Error for the given field errors, or nil when there are none.
func Fields(fs ...FieldError) error {
	if len(fs) == 0 {
		return nil
	}
	return &Error{Fields: fs}
}

// Field returns an *Error for one bad field.
func Field(path, format string, args ...any) error {
	return &Error{Fields: []FieldError{{Field: path, Message: fmt.Sprintf(format, args...)}}}
}

var (
	once sync.Once
	v    *validator.Validate
)

// Validator returns the shared validator: field names are JSON names.
func Validator() *validator.Validate {
	once.Do(func() {
		v = validator.New(validator.WithRequiredStructEnabled())
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				return ""
			}
			if name == "" {
				return f.Name
			}
			return name
		})
	})
	return v
}

// Struct validates s and prefixes every reported field with prefix (for example "config").
func Struct(prefix string, s any) error {
	err := Validator().Struct(s)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return err
	}
	out := make([]FieldError, 0, len(verrs))
	for _, fe := range verrs {
		out = append(out, FieldError{Field: Join(prefix, trimRoot(fe.Namespace())), Message: message(fe)})
	}
	return &Error{Fields: out}
}

// Join joins JSON path segments.
func Join(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}

// Prefix returns err with every field of a *Error prefixed; other errors pass through.
func Prefix(prefix string, err error) error {
	var ve *Error
	if !errors.As(err, &ve) {
		return err
	}
	out := make([]FieldError, len(ve.Fields))
	for i, f := range ve.Fields {
		out[i] = FieldError{Field: Join(prefix, f.Field), Message: f.Message}
	}
	return &Error{Fields: out}
}

func trimRoot(ns string) string {
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return ""
}

func message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "min":
		if isLenKind(fe.Kind()) {
			return "must have at least " + fe.Param() + " " + unit(fe.Kind())
		}
		return "must be at least " + fe.Param()
	case "max":
		if isLenKind(fe.Kind()) {
			return "must have at most " + fe.Param() + " " + unit(fe.Kind())
		}
		return "must be at most " + fe.Param()
	case "uuid":
		return "must be a UUID"
	case "printascii":
		return "must be printable ASCII"
	}
	return "failed the " + fe.Tag() + " check"
}

func isLenKind(k reflect.Kind) bool {
	return k == reflect.String || k == reflect.Slice || k == reflect.Map || k == reflect.Array
}

func unit(k reflect.Kind) string {
	if k == reflect.String {
		return "characters"
	}
	return "items"
}
