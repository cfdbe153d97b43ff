// Package server is Tributary's HTTP API: a Gin router over the store and the dispatcher.
package server

import (
	_ "embed"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
)

// Options configures the API.
type Options struct {
	// Store is the database. Required.
	Store *store.Store
	// Dispatcher starts runs and applies schedules. Required.
	Dispatcher *dispatch.Dispatcher
	// Temporal is checked by the readiness endpoint. Required.
	Temporal client.Client
	// Namespace is the Temporal namespace, used in links to the Temporal UI. Required.
	Namespace string
	// TemporalUIURL is the base URL of the Temporal Web UI. Optional; without it runs carry no UI link.
	TemporalUIURL string
	// Logger receives one line per request and the details of internal errors. Optional; defaults to slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies. Optional; defaults to 1 MiB.
	MaxBodyBytes int64
}

//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3 description of the API.
func OpenAPIDocument() []byte { return openAPIDocument }

type api struct {
	Options
	tasks *tasks.Service
}

// NewRouter returns the API's router.
func NewRouter(opts Options) (*gin.Engine, error) {
	if opts.Store == nil || opts.Dispatcher == nil || opts.Temporal == nil || opts.Namespace == "" {
		return nil, errors.New("server: Store, Dispatcher, Temporal and Namespace are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	a := &api{Options: opts, tasks: tasks.New(opts.Store, opts.Dispatcher)}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(a.requestLog(), a.recoverJSON(), securityHeaders(), a.limitBody())
	r.NoRoute(func(c *gin.Context) { renderError(c, a.Logger, errRouteNotFound) })
	r.NoMethod(func(c *gin.Context) { renderError(c, a.Logger, errMethodNotAllowed) })

	r.GET("/healthz", a.health)
	r.GET("/readyz", a.ready)

	v1 := r.Group("/api/v1")
	v1.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", openAPIDocument) })
	v1.GET("/task-types", a.listTaskTypes)

	tasks := v1.Group("/tasks")
	tasks.GET("", a.listTasks)
	tasks.POST("", a.createTask)
	tasks.GET("/:id", a.getTask)
	tasks.PUT("/:id", a.updateTask)
	tasks.DELETE("/:id", a.deleteTask)
	tasks.POST("/:id/runs", a.triggerTask)

	runs := v1.Group("/runs")
	runs.GET("", a.listRuns)
	runs.GET("/:id", a.getRun)
	return r, nil
}
