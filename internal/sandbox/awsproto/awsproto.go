// Package awsproto decodes AWS API requests and encodes responses and errors for the wire
// protocols the sandbox serves: awsQuery (CloudFormation, STS, CloudWatch from the AWS CLI),
// awsJson1_1 (Organizations, SSM) and Smithy RPC v2 CBOR (CloudWatch from aws-sdk-go-v2).
//
// Every protocol is decoded into the same protocol-neutral Object tree, and a handler's result
// Object is encoded back in the protocol of the request, so a service is written once and served
// on every protocol its clients use:
//
//	req, err := awsproto.Decode(r) // never panics; err is an *Error
//	var result awsproto.Object
//	if err == nil {
//		result, err = svc.Handle(ctx, account, req)
//	}
//	awsproto.Encode(w, req, result, err)
//
// SigV4 signatures are not verified: the access key id in the credential scope identifies the
// caller.
package awsproto

import "time"

// Protocol identifies the wire protocol of a request.
type Protocol int

// Protocols served by the sandbox.
const (
	Query     Protocol = iota // POST form-encoded Action=…&Version=…, XML responses
	JSON11                    // X-Amz-Target: Prefix.Operation, JSON bodies (awsJson1_0 decodes as this too)
	RPCv2CBOR                 // POST /service/<Service>/operation/<Op>, CBOR bodies
)

// Request is one decoded AWS API call.
type Request struct {
	Protocol Protocol
	// Service is the SigV4 signing name from the credential scope: "cloudformation", "sts",
	// "organizations", "ssm", "monitoring".
	Service string
	// Action is the operation name, e.g. "CreateStack".
	Action string
	// AccessKeyID and Region come from the SigV4 credential scope.
	AccessKeyID string
	Region      string
	// SessionToken is the X-Amz-Security-Token header, set for temporary credentials.
	SessionToken string
	// Params holds the operation input. Query requests hold strings only (the accessors convert).
	Params Object
	// RequestID is generated per request and echoed in responses and errors.
	RequestID string
}

// Object is a decoded structure: member name → value. A value is one of string, bool, int64,
// float64, time.Time, []any, Object, or nil; CBOR byte strings decode to []byte. JSON numbers
// decode to int64 when their value is integral and fits, else to float64.
//
// Query-protocol lists (Name.member.N…) decode to []any, maps (Name.entry.N.key/value) to
// Object; a query list sent empty ("Name=") decodes to the empty string, which the list
// accessors treat as an empty list.
type Object map[string]any

// Error is an AWS-shaped API error. Code is the error code exactly as the protocol of the
// request spells it (e.g. "ValidationError" for query services, "AccountNotFoundException" for
// Organizations, "ParameterNotFound" for SSM). Status is the HTTP status (400 if zero).
// Sender is false for server faults (5xx, <Type>Receiver</Type>).
type Error struct {
	Code    string
	Message string
	Status  int
	Sender  bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns a client (4xx, Sender) error with the given code.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: sprintf(format, args...), Status: status, Sender: true}
}

// Timestamp formats t the way query XML carries timestamps (ISO 8601, UTC, milliseconds).
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
