package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// apiError is the JSON body of every error response.
type apiError struct {
	Code    string             `json:"code"`
	Message string             `json:"message"`
	Fields  []valid.FieldError `json:"fields,omitempty"`
	// RunningRunID and WorkflowID describe the run that holds a busy exclusivity key.
	RunningRunID         string `json:"running_run_id,omitempty"`
	RunningWorkflowID    string `json:"running_workflow_id,omitempty"`
	RunningWorkflowRunID string `json:"running_workflow_run_id,omitempty"`
}

type errorBody struct {
	Error apiError `json:"error"`
}

var (
	errRouteNotFound     = errors.New("no such route")
	errMethodNotAllowed  = errors.New("method not allowed")
	errUnsupportedMedia  = errors.New("unsupported media type")
	errUnsupportedUpload = errors.New("unsupported file type")
)

// renderError is the one place where errors become HTTP statuses and JSON bodies.
func renderError(c *gin.Context, log *slog.Logger, err error) {
	status, body := classify(err)
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "5")
	}
	if status >= 500 {
		log.ErrorContext(c, "request failed", "method", c.Request.Method, "path", c.FullPath(), "status", status, "error", err.Error())
	}
	c.AbortWithStatusJSON(status, errorBody{Error: body})
}

func classify(err error) (int, apiError) {
	var ve *valid.Error
	var busy *dispatch.BusyError
	var tooBig *http.MaxBytesError
	var svcUnavailable *serviceerror.Unavailable
	var svcDeadline *serviceerror.DeadlineExceeded
	var invalidArg *serviceerror.InvalidArgument
	var badRef *store.BadRefError
	switch {
	case errors.As(err, &badRef):
		return http.StatusBadRequest, apiError{Code: "invalid_request", Message: badRef.Error(),
			Fields: []valid.FieldError{{Field: badRef.Field, Message: badRef.Message}}}
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, apiError{Code: "conflict", Message: err.Error()}
	case errors.As(err, &ve):
		return http.StatusBadRequest, apiError{Code: "invalid_request", Message: ve.Error(), Fields: ve.Fields}
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, apiError{Code: "body_too_large",
			Message: "the request body is larger than the limit of " + strconv.FormatInt(tooBig.Limit, 10) + " bytes"}
	case errors.Is(err, store.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, apiError{Code: "body_too_large", Message: err.Error() + "; nothing was stored"}
	case errors.Is(err, errUnsupportedUpload):
		return http.StatusUnsupportedMediaType, apiError{Code: "unsupported_media_type", Message: "send the file as application/xml, text/xml or application/octet-stream"}
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType, apiError{Code: "unsupported_media_type", Message: "send the body as application/json"}
	case errors.Is(err, store.ErrInvalidCursor):
		return http.StatusBadRequest, apiError{Code: "invalid_request", Message: err.Error(),
			Fields: []valid.FieldError{{Field: "cursor", Message: "is not a cursor returned by this API"}}}
	case errors.Is(err, sqlout.ErrNoReportingRole):
		return http.StatusConflict, apiError{Code: "reporting_role_missing", Message: err.Error()}
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, apiError{Code: "not_found", Message: "the requested resource does not exist"}
	case errors.Is(err, errRouteNotFound):
		return http.StatusNotFound, apiError{Code: "not_found", Message: "no such route; see /api/v1/openapi.yaml"}
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, apiError{Code: "method_not_allowed", Message: "this route does not accept that method"}
	case errors.Is(err, store.ErrDuplicate):
		return http.StatusConflict, apiError{Code: "conflict", Message: "a resource with that name already exists",
			Fields: []valid.FieldError{{Field: "name", Message: "is already in use"}}}
	case errors.As(err, &busy):
		return http.StatusConflict, apiError{Code: "busy", Message: busy.Error(), RunningRunID: busy.RunID,
			RunningWorkflowID: busy.Key, RunningWorkflowRunID: busy.WorkflowRunID}
	case errors.Is(err, auth.ErrNoToken):
		return http.StatusUnauthorized, apiError{Code: "unauthenticated", Message: "send an API token as Authorization: Bearer <token>"}
	case errors.Is(err, auth.ErrBadToken):
		return http.StatusUnauthorized, apiError{Code: "invalid_token", Message: "the token is malformed, unknown, expired or revoked"}
	case errors.Is(err, errCSRF):
		return http.StatusForbidden, apiError{Code: "csrf", Message: "a change made with a session cookie needs its CSRF token in the X-CSRF-Token header"}
	case errors.Is(err, errForbidden):
		return http.StatusForbidden, apiError{Code: "forbidden", Message: "your token's role does not allow this"}
	case errors.Is(err, errRateLimited):
		return http.StatusTooManyRequests, apiError{Code: "rate_limited", Message: "too many failed authentications from your address; wait and retry"}
	case errors.As(err, &invalidArg):
		return http.StatusBadRequest, apiError{Code: "invalid_request", Message: "Temporal rejected the request: " + invalidArg.Error(),
			Fields: []valid.FieldError{{Field: "schedule", Message: invalidArg.Error()}}}
	case store.IsUnavailable(err):
		return http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "the database did not answer; try again shortly"}
	case errors.As(err, &svcUnavailable), errors.As(err, &svcDeadline), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "a backing service did not answer; try again"}
	}
	return http.StatusInternalServerError, apiError{Code: "internal", Message: "internal error; the server log has the details"}
}
