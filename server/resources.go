package server

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/auth"
)

// resource declares the CRUD routes of a named resource kept by a domain service: every
// handler has one shape (bind, call the service, note the audit, render the view). S is
// what clients send, M the stored model, V what they read.
type resource[S, M, V any] struct {
	// path is the collection's path, such as /api/v1/db-connections; noun names one item in
	// the audit trail.
	path, noun string
	// read and write are the roles of GET and of the changes.
	read, write auth.Role
	list        func(ctx context.Context) ([]M, error)
	get         func(ctx context.Context, id uuid.UUID) (*M, error)
	create      func(c *gin.Context, spec S) (*M, error)
	update      func(c *gin.Context, id uuid.UUID, spec S) (*M, error)
	remove      func(ctx context.Context, id uuid.UUID) error
	view        func(*M) V
	// label names an item in the audit trail.
	label func(*M) (id uuid.UUID, name string)
}

func (rs resource[S, M, V]) routes(a *api) []route {
	r := func(method, path string, role auth.Role, h func(c *gin.Context) (int, any, error)) route {
		return route{Rule{method, path, role}, a.handle(h)}
	}
	item := rs.path + "/:id"
	return []route{
		r("GET", rs.path, rs.read, func(c *gin.Context) (int, any, error) {
			if err := checkQuery(c.Request.URL.Query()); err != nil {
				return 0, nil, err
			}
			list, err := rs.list(c)
			if err != nil {
				return 0, nil, err
			}
			out := page[V]{Items: make([]V, 0, len(list))}
			for i := range list {
				out.Items = append(out.Items, rs.view(&list[i]))
			}
			return http.StatusOK, out, nil
		}),
		r("POST", rs.path, rs.write, func(c *gin.Context) (int, any, error) {
			var spec S
			if err := bindJSON(c, &spec, false); err != nil {
				return 0, nil, err
			}
			m, err := rs.create(c, spec)
			if err != nil {
				return 0, nil, err
			}
			id, name := rs.label(m)
			noteAudit(c, id.String(), "created "+rs.noun+" "+name)
			return http.StatusCreated, rs.view(m), nil
		}),
		r("GET", item, rs.read, func(c *gin.Context) (int, any, error) {
			id, err := pathUUID(c)
			if err != nil {
				return 0, nil, err
			}
			m, err := rs.get(c, id)
			if err != nil {
				return 0, nil, err
			}
			return http.StatusOK, rs.view(m), nil
		}),
		r("PUT", item, rs.write, func(c *gin.Context) (int, any, error) {
			id, err := pathUUID(c)
			if err != nil {
				return 0, nil, err
			}
			var spec S
			if err := bindJSON(c, &spec, false); err != nil {
				return 0, nil, err
			}
			m, err := rs.update(c, id, spec)
			if err != nil {
				return 0, nil, err
			}
			_, name := rs.label(m)
			noteAudit(c, id.String(), "updated "+rs.noun+" "+name)
			return http.StatusOK, rs.view(m), nil
		}),
		r("DELETE", item, rs.write, func(c *gin.Context) (int, any, error) {
			id, err := pathUUID(c)
			if err != nil {
				return 0, nil, err
			}
			if err := rs.remove(c, id); err != nil {
				return 0, nil, err
			}
			noteAudit(c, id.String(), "deleted "+rs.noun)
			return http.StatusNoContent, nil, nil
		}),
	}
}
