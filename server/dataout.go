package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/dataout"
	"github.com/tributary-io/tributary/store"
)

type dbConnectionView struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Host        string    `json:"host"`
	Port        int       `json:"port"`
	Database    string    `json:"database"`
	Username    string    `json:"username"`
	PasswordSet bool      `json:"password_set"`
	TLSMode     string    `json:"tls_mode"`
	CAPEM       string    `json:"ca_pem"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func dbConnectionResponse(c *store.DBConnection) dbConnectionView {
	return dbConnectionView{ID: c.ID, Name: c.Name, Type: c.Type, Host: c.Host, Port: c.Port, Database: c.Database, Username: c.Username,
		PasswordSet: c.Password != "", TLSMode: c.TLSMode, CAPEM: c.CAPEM, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

type savedQueryView struct {
	ID          uuid.UUID       `json:"id"`
	Name        string          `json:"name"`
	SQL         string          `json:"sql"`
	Description string          `json:"description"`
	Columns     json.RawMessage `json:"columns"`
	CreatedBy   string          `json:"created_by"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func savedQueryResponse(q *store.SavedQuery) savedQueryView {
	return savedQueryView{ID: q.ID, Name: q.Name, SQL: q.SQL, Description: q.Description, Columns: q.Columns, CreatedBy: q.CreatedBy,
		CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
}

// dataOutRoutes are the database connections and saved queries of the data-out tasks.
func (a *api) dataOutRoutes() []route {
	conns := resource[dataout.ConnectionSpec, store.DBConnection, dbConnectionView]{
		path: "/api/v1/db-connections", noun: "database connection", read: auth.Viewer, write: auth.Admin,
		list: func(ctx context.Context) ([]store.DBConnection, error) { return a.Store.DBConnections.List(ctx) },
		get: func(ctx context.Context, id uuid.UUID) (*store.DBConnection, error) {
			return a.Store.DBConnections.Get(ctx, id)
		},
		create: func(c *gin.Context, s dataout.ConnectionSpec) (*store.DBConnection, error) {
			return a.dataout.CreateConnection(c, s)
		},
		update: func(c *gin.Context, id uuid.UUID, s dataout.ConnectionSpec) (*store.DBConnection, error) {
			return a.dataout.UpdateConnection(c, id, s)
		},
		remove: func(ctx context.Context, id uuid.UUID) error { return a.Store.DBConnections.Delete(ctx, id) },
		view:   dbConnectionResponse,
		label:  func(c *store.DBConnection) (uuid.UUID, string) { return c.ID, c.Name },
	}
	queries := resource[dataout.QuerySpec, store.SavedQuery, savedQueryView]{
		path: "/api/v1/saved-queries", noun: "saved query", read: auth.Viewer, write: auth.Admin,
		list: func(ctx context.Context) ([]store.SavedQuery, error) { return a.Store.SavedQueries.List(ctx) },
		get: func(ctx context.Context, id uuid.UUID) (*store.SavedQuery, error) {
			return a.Store.SavedQueries.Get(ctx, id)
		},
		create: func(c *gin.Context, s dataout.QuerySpec) (*store.SavedQuery, error) {
			return a.dataout.CreateQuery(c, s, principal(c).Name)
		},
		update: func(c *gin.Context, id uuid.UUID, s dataout.QuerySpec) (*store.SavedQuery, error) {
			return a.dataout.UpdateQuery(c, id, s)
		},
		remove: func(ctx context.Context, id uuid.UUID) error { return a.Store.SavedQueries.Delete(ctx, id) },
		view:   savedQueryResponse,
		label:  func(q *store.SavedQuery) (uuid.UUID, string) { return q.ID, q.Name },
	}
	out := append(conns.routes(a), queries.routes(a)...)
	return append(out, route{Rule{"POST", "/api/v1/db-connections/:id/test", auth.Operator}, a.handle(func(c *gin.Context) (int, any, error) {
		id, err := pathUUID(c)
		if err != nil {
			return 0, nil, err
		}
		rep, err := a.dataout.TestConnection(c, id, 20*time.Second)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, rep, nil
	})})
}
