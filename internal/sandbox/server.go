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
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
	"github.com/stackfleet/stackfleet/internal/sandbox/s3"
)

// A part is one service or store of the sandbox: the API it serves under its SigV4 signing
// name (if any), and its section of the state file (if any). Routing and persistence loop
// over the parts.
type part struct {
	name     string // SigV4 signing name; "" for a store with no API of its own
	regional bool   // calls need an enabled region
	api      handler
	key      string // section of the state file; "" for a service without state
	state    snapshotter
}

// handler serves the calls of one service.
type handler interface {
	Handle(ctx context.Context, caller iam.Principal, req *awsproto.Request) (awsproto.Object, error)
}

// snapshotter is a store whose state is saved and restored as one JSON section.
type snapshotter interface {
	Snapshot() ([]byte, error)
	Restore(data []byte) error
}

// inAccount serves a service whose calls act in the caller's account, whoever the caller is
// (CloudFormation, SSM, CloudWatch).
type inAccount struct {
	svc interface {
		Handle(ctx context.Context, account string, req *awsproto.Request) (awsproto.Object, error)
	}
}

func (a inAccount) Handle(ctx context.Context, caller iam.Principal, req *awsproto.Request) (awsproto.Object, error) {
	return a.svc.Handle(ctx, caller.Account, req)
}

func (s *Sandbox) newHandler() http.Handler {
	mux := http.NewServeMux()
	s.registerAdmin(mux)
	admin := s.guard.Wrap(mux)
	// AWS calls bypass the mux, which would clean (redirect) S3 keys such as "a//b".
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, adminPrefix) {
			admin.ServeHTTP(w, r)
			return
		}
		s.serveAWS(w, r)
	})
}

// serveS3 serves one S3 REST call: route, authenticate (an unsigned request is anonymous),
// count, apply fault rules, serve.
func (s *Sandbox) serveS3(w http.ResponseWriter, r *http.Request) {
	c := s3.Route(r, awsproto.NewRequestID())
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("sandbox: panic serving request", "panic", v, "stack", string(debug.Stack()))
			s3.WriteError(w, c, nil)
		}
	}()
	akid, region, _, token, signed, perr := awsproto.CredentialScope(r)
	if perr != nil {
		s3.WriteError(w, c, s3.FromAuthError(perr))
		return
	}
	now := s.now()
	var caller iam.Principal
	if signed {
		var aerr *awsproto.Error
		caller, aerr = s.keys.Authenticate(&awsproto.Request{Protocol: awsproto.Query, AccessKeyID: akid, SessionToken: token}, now)
		if aerr != nil {
			s3.WriteError(w, c, s3.FromAuthError(aerr))
			return
		}
		if !s.regionEnabled(region) {
			s3.WriteError(w, c, &s3.Error{Status: 400, Code: "AuthorizationHeaderMalformed", Message: fmt.Sprintf(
				"The authorization header is malformed; the region '%s' is not enabled in this sandbox (enabled: %s).", region, strings.Join(s.regions, ", "))})
			return
		}
	}
	cnt := s.counters.get(counterKey{"s3", c.Op, caller.Account, region})
	cnt.calls.Add(1)
	cf := s.faults.onCall(awsproto.Query, "s3", c.Op, caller.Account, region, now)
	if cf.delay > 0 && !s.wait(r, cf.delay) {
		return
	}
	if cf.err != nil {
		if cf.throttled {
			cnt.throttled.Add(1)
		} else {
			cnt.faulted.Add(1)
		}
		s3.WriteError(w, c, s3.FromAPIError(cf.err))
		return
	}
	s.s3.Serve(w, c, caller, region)
	if s3.IsWrite(c.Op) {
		s.changed()
	}
}

// wait holds a call for a fault rule's delay; false if the client went away.
func (s *Sandbox) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return false
	case <-s.quit:
		// Closing: serve the call now rather than hold up the shutdown.
	}
	return true
}

// serveAWS serves one AWS API call: decode, authenticate, count, apply fault rules, route.
func (s *Sandbox) serveAWS(w http.ResponseWriter, r *http.Request) {
	var req *awsproto.Request
	if _, _, service, _, _, _ := awsproto.CredentialScope(r); s3.IsRequest(r, service) {
		s.serveS3(w, r)
		return
	}
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
	caller, aerr := s.keys.Authenticate(req, now)
	if aerr != nil {
		awsproto.Encode(w, req, nil, aerr)
		return
	}
	cnt := s.counters.get(counterKey{req.Service, req.Action, caller.Account, req.Region})
	cnt.calls.Add(1)

	cf := s.faults.onCall(req.Protocol, req.Service, req.Action, caller.Account, req.Region, now)
	if cf.delay > 0 && !s.wait(r, cf.delay) {
		return
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

// route dispatches an authenticated call to the service of its signing name.
func (s *Sandbox) route(ctx context.Context, caller iam.Principal, req *awsproto.Request) (awsproto.Object, error) {
	var served []string
	for _, p := range s.parts {
		if p.api == nil {
			continue
		}
		if p.name != req.Service {
			served = append(served, p.name)
			continue
		}
		if p.regional && !s.regionEnabled(req.Region) {
			return nil, s.regionDisabled(req)
		}
		return p.api.Handle(ctx, caller, req)
	}
	msg := fmt.Sprintf("The sandbox does not serve the service %q; it serves %s.", req.Service, strings.Join(served, ", "))
	if req.Protocol == awsproto.Query {
		return nil, awsproto.Errorf(400, "InvalidAction", "%s", msg)
	}
	return nil, awsproto.Errorf(400, "UnknownOperationException", "%s", msg)
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
	e := iam.InvalidToken(req.Protocol)
	e.Message = fmt.Sprintf("%s The region %q is not enabled in this sandbox (enabled: %s).",
		e.Message, req.Region, strings.Join(s.regions, ", "))
	return e
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
