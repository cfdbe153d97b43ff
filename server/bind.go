package server

import (
	"io"
	"mime"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/valid"
)

// bindJSON reads the body strictly into v: JSON content type, size limit, unknown fields
// rejected. optional allows an empty body (v keeps its zero value).
func bindJSON(c *gin.Context, v any, optional bool) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return err // *http.MaxBytesError for an oversize body
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return valid.Field("body", "a JSON object is required")
	}
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errUnsupportedMedia
		}
	}
	return valid.DecodeJSON("", body, v)
}

// pathUUID parses the :id path parameter.
func pathUUID(c *gin.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, valid.Field("id", "%q is not a UUID", c.Param("id"))
	}
	return id, nil
}

// checkQuery rejects query parameters other than allowed, and repeated ones, so that a
// misspelt filter is reported instead of silently ignored.
func checkQuery(q url.Values, allowed ...string) error {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	var fs []valid.FieldError
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case !ok[k]:
			fs = append(fs, valid.FieldError{Field: k, Message: "is not a known query parameter; known: " + strings.Join(allowed, ", ")})
		case len(q[k]) > 1:
			fs = append(fs, valid.FieldError{Field: k, Message: "is given more than once"})
		}
	}
	return valid.Fields(fs...)
}

// enumParam reads query parameter field, which must be one of allowed when given; a bad
// value is added to fs and gives "".
func enumParam(q url.Values, field string, allowed []string, fs *[]valid.FieldError) string {
	v := q.Get(field)
	if v == "" || slices.Contains(allowed, v) {
		return v
	}
	*fs = append(*fs, valid.FieldError{Field: field, Message: "must be one of: " + strings.Join(allowed, ", ")})
	return ""
}

// uuidParam reads an optional UUID query parameter; a bad value is added to fs.
func uuidParam(q url.Values, field string, fs *[]valid.FieldError) *uuid.UUID {
	v := q.Get(field)
	if v == "" {
		return nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		*fs = append(*fs, valid.FieldError{Field: field, Message: "must be a UUID"})
		return nil
	}
	return &id
}
