package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/valid"
)

func (a *api) listTaskTypes(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"items": tasktype.All()})
}

func (a *api) listTasks(c *gin.Context) {
	if err := checkQuery(c.Request.URL.Query(), "type"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	f := store.TaskFilter{Type: c.Query("type")}
	if f.Type != "" {
		if _, ok := tasktype.Lookup(f.Type); !ok {
			renderError(c, a.Logger, valid.Field("type", "unknown task type %q", f.Type))
			return
		}
	}
	list, err := a.tasks.List(c, f)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	items := make([]taskResponse, 0, len(list))
	for i := range list {
		v, err := a.taskView(&list[i])
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		items = append(items, v)
	}
	if err := a.withTaskHealth(c, items); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (a *api) createTask(c *gin.Context) {
	var spec tasks.Spec
	if err := bindJSON(c, &spec, false); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	t, err := a.tasks.Create(c, spec)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, t.ID.String(), "created "+t.Type+" task "+t.Name)
	a.renderTask(c, http.StatusCreated, t)
}

func (a *api) getTask(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	t, err := a.tasks.Get(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	a.renderTask(c, http.StatusOK, t)
}

func (a *api) updateTask(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	var spec tasks.Spec
	if err := bindJSON(c, &spec, false); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	t, err := a.tasks.Update(c, id, spec)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, t.ID.String(), "updated "+t.Type+" task "+t.Name)
	a.renderTask(c, http.StatusOK, t)
}

func (a *api) deleteTask(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if err := a.tasks.Delete(c, id); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, id.String(), "deleted task")
	c.Status(http.StatusNoContent)
}

func (a *api) triggerTask(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	var opts tasks.TriggerOptions
	if err := bindJSON(c, &opts, true); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	started, err := a.tasks.Trigger(c, id, principal(c).Name, opts)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, id.String(), "triggered run "+started.RunID)
	runURL := "/api/v1/runs/" + started.RunID
	c.Header("Location", runURL)
	c.JSON(http.StatusAccepted, triggerResponse{
		RunID: started.RunID, WorkflowID: started.WorkflowID, WorkflowRunID: started.WorkflowRunID, RunURL: runURL,
		TemporalURL: a.temporalURL(started.WorkflowID, started.WorkflowRunID),
	})
}

func (a *api) renderTask(c *gin.Context, status int, t *store.Task) {
	v, err := a.taskView(t)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	views := []taskResponse{v}
	if err := a.withTaskHealth(c, views); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(status, views[0])
}
