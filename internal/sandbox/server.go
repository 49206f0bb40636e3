package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// regionalServices are the services that live in a region and so require an enabled one.
var regionalServices = map[string]bool{"cloudformation": true, "ssm": true, "monitoring": true}

func (s *Sandbox) newHandler() http.Handler {
	mux := http.NewServeMux()
	s.registerAdmin(mux)
	mux.HandleFunc("/", s.serveAWS)
	return mux
}

// serveAWS serves one AWS API call: decode, authenticate, count, apply fault rules, route.
func (s *Sandbox) serveAWS(w http.ResponseWriter, r *http.Request) {
	var req *awsproto.Request
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("sandbox: panic serving request", "panic", v, "stack", string(debug.Stack()))
			awsproto.Encode(w, req, nil, &awsproto.Error{
				Code: "InternalFailure", Status: http.StatusInternalServerError,
				Message: "The request processing has failed because of an unknown error, exception or failure.",
			})
		}
	}()
	req, err := awsproto.Decode(r)
	if err != nil {
		awsproto.Encode(w, req, nil, err)
		return
	}
	now := s.now()
	caller, aerr := s.keys.authenticate(req, now)
	if aerr != nil {
		awsproto.Encode(w, req, nil, aerr)
		return
	}
	cnt := s.counters.get(counterKey{req.Service, req.Action, caller.Account, req.Region})
	cnt.calls.Add(1)

	cf := s.faults.onCall(req.Protocol, req.Service, req.Action, caller.Account, req.Region, now)
	if cf.delay > 0 {
		t := time.NewTimer(cf.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.quit:
			// Closing: serve the call now rather than hold up the shutdown.
			t.Stop()
		}
	}
	if cf.err != nil {
		if cf.throttled {
			cnt.throttled.Add(1)
		} else {
			cnt.faulted.Add(1)
		}
		awsproto.Encode(w, req, nil, cf.err)
		return
	}
	result, err := s.route(r.Context(), caller, req)
	awsproto.Encode(w, req, result, err)
	if err == nil && (isWriteAction(req.Service, req.Action) || req.Action == "AssumeRole") {
		// AssumeRole changes no resource but issues credentials worth keeping.
		s.changed()
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("sandbox: call", "service", req.Service, "action", req.Action, "account", caller.Account,
			"region", req.Region, "error", errorCode(err))
	}
}

// route dispatches an authenticated call to its service in the caller's account.
func (s *Sandbox) route(ctx context.Context, caller principal, req *awsproto.Request) (awsproto.Object, error) {
	if regionalServices[req.Service] && !s.regionEnabled(req.Region) {
		return nil, s.regionDisabled(req)
	}
	switch req.Service {
	case "cloudformation":
		return s.cfn.Handle(ctx, caller.Account, req)
	case "ssm":
		return s.ssm.Handle(ctx, caller.Account, req)
	case "monitoring":
		return s.cw.Handle(ctx, caller.Account, req)
	case "sts":
		return orNil(s.handleSTS(caller, req))
	case "organizations":
		return orNil(s.org.handle(s.now(), caller, req))
	}
	msg := fmt.Sprintf("The sandbox does not serve the service %q; it serves cloudformation, sts, organizations, ssm and monitoring.", req.Service)
	if req.Protocol == awsproto.Query {
		return nil, awsproto.Errorf(400, "InvalidAction", "%s", msg)
	}
	return nil, awsproto.Errorf(400, "UnknownOperationException", "%s", msg)
}

// orNil converts a typed nil *awsproto.Error into a nil error.
func orNil(o awsproto.Object, err *awsproto.Error) (awsproto.Object, error) {
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (s *Sandbox) regionEnabled(region string) bool {
	for _, r := range s.regions {
		if r == region {
			return true
		}
	}
	return false
}

// regionDisabled is the answer for a call to a region that is not enabled. AWS answers calls
// to a region not enabled for the account as if the credentials were unknown; the message
// says why.
func (s *Sandbox) regionDisabled(req *awsproto.Request) *awsproto.Error {
	e := invalidToken(req.Protocol)
	e.Message = fmt.Sprintf("%s The region %q is not enabled in this sandbox (enabled: %s).",
		e.Message, req.Region, strings.Join(s.regions, ", "))
	return e
}

// unknownOperation is the answer for an action the service does not have.
func unknownOperation(req *awsproto.Request) *awsproto.Error {
	if req.Protocol == awsproto.Query {
		return awsproto.Errorf(400, "InvalidAction", "The action %s is not valid for this web service.", req.Action)
	}
	return awsproto.Errorf(400, "UnknownOperationException", "The operation %s is not supported by this service.", req.Action)
}

// errorCode returns the AWS error code of err, "" for nil.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *awsproto.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "InternalFailure"
}
