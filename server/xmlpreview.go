package server

import (
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/valid"
	"github.com/tributary-io/tributary/xmlmap"
)

// xmlPreview maps the first records of a stored file without storing anything.
type xmlPreview struct {
	FileID  uuid.UUID      `json:"file_id" validate:"required"`
	Kind    string         `json:"kind" validate:"required,oneof=assets events vulnerabilities"`
	Mapping xmlmap.Mapping `json:"mapping"`
	Limit   int            `json:"limit" validate:"omitempty,min=1,max=100"`
}

type previewRecord struct {
	Number int                 `json:"number"`
	Line   int                 `json:"line"`
	Values map[string]any      `json:"values"`
	Errors []xmlmap.FieldError `json:"errors"`
}

type previewFileError struct {
	Record  int    `json:"record,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

type previewResponse struct {
	Records []previewRecord `json:"records"`
	// Targets are the fields the kind can fill, and which of them are required.
	Targets []string `json:"targets"`
	// FileError is a problem of the file itself, found before Limit records were read.
	FileError  *previewFileError `json:"file_error,omitempty"`
	DurationMS int64             `json:"duration_ms"`
}

// errPreviewDone stops the reading once enough records are mapped.
var errPreviewDone = errors.New("enough records")

// previewXML maps the first records (default 20) of an uploaded file with a mapping, so an
// admin can get a mapping right before the first run. Nothing is stored.
func (a *api) previewXML(c *gin.Context) (int, any, error) {
	var in xmlPreview
	if err := bindBody(c, &in, false); err != nil {
		return 0, nil, err
	}
	if in.Limit == 0 {
		in.Limit = 20
	}
	targets := tasktype.XMLTargets[in.Kind]
	m, err := xmlmap.Compile(in.Mapping, targets)
	if err != nil {
		return 0, nil, valid.Prefix("mapping", err)
	}
	start := time.Now()
	out := previewResponse{Records: []previewRecord{}}
	for _, t := range targets {
		name := t.Name
		if t.Required {
			name += " (required)"
		}
		out.Targets = append(out.Targets, name)
	}
	sort.Strings(out.Targets)
	var tables xmlmap.Tables
	if m.HasLookups() {
		r, err := a.Store.Files.Open(c, in.FileID)
		if err != nil {
			return 0, nil, fileRef(err)
		}
		tables, err = m.ReadLookups(r, xmlmap.LookupOptions{})
		r.Close()
		if err != nil {
			return a.previewFailed(out, err, start)
		}
	}
	r, err := a.Store.Files.Open(c, in.FileID)
	if err != nil {
		return 0, nil, fileRef(err)
	}
	defer r.Close()
	_, err = m.Records(r, xmlmap.ReadOptions{}, func(rec *xmlmap.Record) error {
		vals, errs := m.Evaluate(rec, tables)
		if errs == nil {
			errs = []xmlmap.FieldError{}
		}
		out.Records = append(out.Records, previewRecord{Number: rec.Number, Line: rec.Line, Values: vals, Errors: errs})
		if len(out.Records) == in.Limit {
			return errPreviewDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPreviewDone) {
		return a.previewFailed(out, err, start)
	}
	out.DurationMS = time.Since(start).Milliseconds()
	return http.StatusOK, out, nil
}

// previewFailed answers the records read before a file error, and the error.
func (a *api) previewFailed(out previewResponse, err error, start time.Time) (int, any, error) {
	var fe *xmlmap.Error
	if !errors.As(err, &fe) {
		return 0, nil, err
	}
	out.FileError = &previewFileError{Record: fe.Record, Line: fe.Line, Message: fe.Error()}
	out.DurationMS = time.Since(start).Milliseconds()
	return http.StatusOK, out, nil
}

// fileRef makes a missing file a bad reference in the request.
func fileRef(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return valid.Field("file_id", "there is no such file (upload it with POST /api/v1/files)")
	}
	return err
}
