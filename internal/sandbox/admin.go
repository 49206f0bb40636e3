package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The admin API is served under /_sandbox/, outside every AWS path. Requests and responses
// are JSON; errors are {"error": "..."} with a 4xx status. It needs no AWS credentials (the
// sandbox is a local test tool) but is guarded against other web pages: only IP-literal and
// localhost Host headers (DNS rebinding), no cross-origin writes, and Options.AdminToken when
// set. Endpoints (documented for users in ADMIN.md):
//
//	GET    /_sandbox/                 index of endpoints
//	GET    /_sandbox/org              the organization (OrgView) and endpoint/credentials
//	GET    /_sandbox/credentials      management credentials and shell export lines
//	GET    /_sandbox/rules            fault rules with firing counts
//	POST   /_sandbox/rules            add a rule (Rule JSON); returns it with its id
//	DELETE /_sandbox/rules            delete every rule
//	DELETE /_sandbox/rules/{id}       delete one rule
//	POST   /_sandbox/alarm-state      {"account","region","alarmName","state","reason"}
//	POST   /_sandbox/drift            {"account","region","stackName","logicalId","properties":{…}}
//	GET    /_sandbox/resource-delay   {"delay":"…"} (the last value set through the API)
//	PUT    /_sandbox/resource-delay   {"delay":"2s"} (or milliseconds)
//	GET    /_sandbox/counters         call counters (Counts) and totals
//	DELETE /_sandbox/counters         reset the counters
//	POST   /_sandbox/save             write the state to the data dir now
const adminPrefix = "/_sandbox/"

// adminMaxBody bounds admin request bodies.
const adminMaxBody = 1 << 20

func (s *Sandbox) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sandbox/{$}", s.adminIndex)
	mux.HandleFunc("GET /_sandbox/org", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, struct {
			OrgView
			Endpoint    string
			Credentials Credentials
		}{s.Org(), s.URL(), s.ManagementCredentials()})
	})
	mux.HandleFunc("GET /_sandbox/credentials", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, struct {
			Endpoint    string
			Credentials Credentials
			Export      []string
		}{s.URL(), s.ManagementCredentials(), s.ExportLines()})
	})
	mux.HandleFunc("GET /_sandbox/rules", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Rules())
	})
	mux.HandleFunc("POST /_sandbox/rules", func(w http.ResponseWriter, r *http.Request) {
		var rule Rule
		if !readJSON(w, r, &rule) {
			return
		}
		added, err := s.AddRule(rule)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, added)
	})
	mux.HandleFunc("DELETE /_sandbox/rules", func(w http.ResponseWriter, r *http.Request) {
		s.ClearRules()
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("DELETE /_sandbox/rules/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.RemoveRule(r.PathValue("id")) {
			writeError(w, http.StatusNotFound, fmt.Errorf("no rule %q", r.PathValue("id")))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("POST /_sandbox/alarm-state", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Account, Region, AlarmName, State, Reason string
		}
		if !readJSON(w, r, &in) {
			return
		}
		if in.Account == "" || in.Region == "" || in.AlarmName == "" || in.State == "" {
			writeError(w, http.StatusBadRequest, errors.New("account, region, alarmName and state are required"))
			return
		}
		if in.Reason == "" {
			in.Reason = "Set by the sandbox admin API"
		}
		if err := s.SetAlarmState(in.Account, in.Region, in.AlarmName, in.State, in.Reason); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("POST /_sandbox/drift", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Account, Region, StackName, LogicalID string
			Properties                            map[string]any
		}
		if !readJSON(w, r, &in) {
			return
		}
		if in.Account == "" || in.Region == "" || in.StackName == "" || in.LogicalID == "" {
			writeError(w, http.StatusBadRequest, errors.New("account, region, stackName and logicalId are required"))
			return
		}
		if err := s.Drift(in.Account, in.Region, in.StackName, in.LogicalID, in.Properties); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("GET /_sandbox/custom-resources", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"responses": s.CustomResponses()})
	})
	mux.HandleFunc("POST /_sandbox/custom-resources", func(w http.ResponseWriter, r *http.Request) {
		var in CustomResponse
		if !readJSON(w, r, &in) {
			return
		}
		if err := s.SetCustomResponse(in); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("DELETE /_sandbox/custom-resources", func(w http.ResponseWriter, r *http.Request) {
		s.ClearCustomResponses()
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("GET /_sandbox/resource-delay", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"delay": time.Duration(s.resourceDelay.Load()).String()})
	})
	mux.HandleFunc("PUT /_sandbox/resource-delay", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Delay json.RawMessage }
		if !readJSON(w, r, &in) {
			return
		}
		d, err := parseDuration(in.Delay)
		if err == nil && (d < 0 || d > maxRuleDelay) {
			err = fmt.Errorf("delay %v must be between 0 and %v", d, maxRuleDelay)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		s.SetResourceDelay(d)
		writeJSON(w, http.StatusOK, map[string]string{"delay": d.String()})
	})
	mux.HandleFunc("GET /_sandbox/counters", func(w http.ResponseWriter, r *http.Request) {
		c := s.Counters()
		writeJSON(w, http.StatusOK, map[string]any{
			"counters": c, "calls": c.Calls("", ""), "writes": c.Writes(""), "throttled": c.Throttled("", ""),
		})
	})
	mux.HandleFunc("DELETE /_sandbox/counters", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCounters()
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("POST /_sandbox/save", func(w http.ResponseWriter, r *http.Request) {
		if s.saver == nil {
			writeError(w, http.StatusConflict, errors.New("the sandbox has no data dir"))
			return
		}
		if err := s.Save(); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc(adminPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no admin endpoint %s %s (see GET %s)", r.Method, r.URL.Path, adminPrefix))
	})
}

func (s *Sandbox) adminIndex(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": []string{
		"GET /_sandbox/org", "GET /_sandbox/credentials",
		"GET /_sandbox/rules", "POST /_sandbox/rules", "DELETE /_sandbox/rules", "DELETE /_sandbox/rules/{id}",
		"POST /_sandbox/alarm-state", "POST /_sandbox/drift",
		"GET /_sandbox/resource-delay", "PUT /_sandbox/resource-delay",
		"GET /_sandbox/counters", "DELETE /_sandbox/counters", "POST /_sandbox/save",
	}})
}

// readJSON decodes a JSON request body into v, rejecting unknown fields and trailing data;
// on failure it answers 400 and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, adminMaxBody))
	if err == nil {
		err = strictJSON(body, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid request body: %w", err))
		return false
	}
	return true
}

// strictJSON decodes exactly one JSON value into v, rejecting unknown fields. Field names
// match case-insensitively, as encoding/json does.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
