package s3

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// Error is an S3 error response: status, code and message, and the members S3 adds for some
// errors (BucketName, Key, Region…).
type Error struct {
	Status  int
	Code    string
	Message string
	Extra   [][2]string
	Header  map[string]string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) with(name, value string) *Error {
	e.Extra = append(e.Extra, [2]string{name, value})
	return e
}

func noSuchBucket(name string) *Error {
	return errorf(404, "NoSuchBucket", "The specified bucket does not exist").with("BucketName", name)
}

func noSuchKey(key string) *Error {
	return errorf(404, "NoSuchKey", "The specified key does not exist.").with("Key", key)
}

func accessDenied() *Error { return errorf(403, "AccessDenied", "Access Denied") }

func malformedXML() *Error {
	return errorf(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
}

func invalidArgument(format string, args ...any) *Error {
	return errorf(400, "InvalidArgument", format, args...)
}

// WriteError writes e (or, for an error of another kind, an InternalError) as S3 does: XML
// with Code, Message and RequestId, and no body for a HEAD request.
func WriteError(w http.ResponseWriter, c *Call, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = errorf(500, "InternalError", "We encountered an internal error. Please try again.")
	}
	h := w.Header()
	setIDs(h, c)
	for k, v := range e.Header {
		h.Set(k, v)
	}
	if c != nil && c.r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error><Code>")
	xml.EscapeText(&b, []byte(e.Code))
	b.WriteString("</Code><Message>")
	xml.EscapeText(&b, []byte(e.Message))
	b.WriteString("</Message>")
	for _, kv := range e.Extra {
		fmt.Fprintf(&b, "<%s>", kv[0])
		xml.EscapeText(&b, []byte(kv[1]))
		fmt.Fprintf(&b, "</%s>", kv[0])
	}
	if c != nil {
		fmt.Fprintf(&b, "<RequestId>%s</RequestId><HostId>%s</HostId>", c.RequestID, hostID(c.RequestID))
	}
	b.WriteString("</Error>")
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b.Bytes())
}

func setIDs(h http.Header, c *Call) {
	if c == nil {
		return
	}
	h.Set("X-Amz-Request-Id", c.RequestID)
	h.Set("X-Amz-Id-2", hostID(c.RequestID))
}

func hostID(requestID string) string { return "sandbox/" + requestID }

// writeXML writes v as an XML document with status 200.
func writeXML(w http.ResponseWriter, c *Call, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		WriteError(w, c, err)
		return
	}
	h := w.Header()
	setIDs(h, c)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

// writeEmpty answers a call that returns no body.
func writeEmpty(w http.ResponseWriter, c *Call, status int) {
	setIDs(w.Header(), c)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// isoTime is S3's timestamp format in XML bodies.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// The XML documents of S3's API.
type (
	owner struct {
		ID          string `xml:"ID"`
		DisplayName string `xml:"DisplayName,omitempty"`
	}
	listAllMyBucketsResult struct {
		XMLName xml.Name     `xml:"ListAllMyBucketsResult"`
		Xmlns   string       `xml:"xmlns,attr"`
		Owner   owner        `xml:"Owner"`
		Buckets []bucketItem `xml:"Buckets>Bucket"`
	}
	bucketItem struct {
		Name         string `xml:"Name"`
		CreationDate string `xml:"CreationDate"`
		BucketRegion string `xml:"BucketRegion,omitempty"`
	}
	createBucketConfiguration struct {
		LocationConstraint string `xml:"LocationConstraint"`
	}
	locationConstraint struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Xmlns   string   `xml:"xmlns,attr"`
		Value   string   `xml:",chardata"`
	}
	listBucketResult struct {
		XMLName               xml.Name       `xml:"ListBucketResult"`
		Xmlns                 string         `xml:"xmlns,attr"`
		Name                  string         `xml:"Name"`
		Prefix                string         `xml:"Prefix"`
		Marker                *string        `xml:"Marker,omitempty"`
		NextMarker            string         `xml:"NextMarker,omitempty"`
		StartAfter            string         `xml:"StartAfter,omitempty"`
		ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
		NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
		KeyCount              *int           `xml:"KeyCount,omitempty"`
		MaxKeys               int            `xml:"MaxKeys"`
		Delimiter             string         `xml:"Delimiter,omitempty"`
		EncodingType          string         `xml:"EncodingType,omitempty"`
		IsTruncated           bool           `xml:"IsTruncated"`
		Contents              []objectItem   `xml:"Contents"`
		CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
	}
	objectItem struct {
		Key               string   `xml:"Key"`
		LastModified      string   `xml:"LastModified"`
		ETag              string   `xml:"ETag"`
		ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
		Size              int      `xml:"Size"`
		Owner             *owner   `xml:"Owner,omitempty"`
		StorageClass      string   `xml:"StorageClass"`
	}
	commonPrefix struct {
		Prefix string `xml:"Prefix"`
	}
	deleteRequest struct {
		Quiet   bool `xml:"Quiet"`
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	deleteResult struct {
		XMLName xml.Name      `xml:"DeleteResult"`
		Xmlns   string        `xml:"xmlns,attr"`
		Deleted []deletedItem `xml:"Deleted"`
		Errors  []deleteError `xml:"Error"`
	}
	deletedItem struct {
		Key string `xml:"Key"`
	}
	deleteError struct {
		Key     string `xml:"Key"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	copyObjectResult struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		Xmlns        string   `xml:"xmlns,attr"`
		ETag         string   `xml:"ETag"`
		LastModified string   `xml:"LastModified"`
	}
	initiateMultipartUploadResult struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		UploadID string   `xml:"UploadId"`
	}
	completeMultipartUpload struct {
		Parts []struct {
			PartNumber int    `xml:"PartNumber"`
			ETag       string `xml:"ETag"`
		} `xml:"Part"`
	}
	completeMultipartUploadResult struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Location string   `xml:"Location"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		ETag     string   `xml:"ETag"`
	}
	listPartsResult struct {
		XMLName  xml.Name   `xml:"ListPartsResult"`
		Xmlns    string     `xml:"xmlns,attr"`
		Bucket   string     `xml:"Bucket"`
		Key      string     `xml:"Key"`
		UploadID string     `xml:"UploadId"`
		Parts    []partItem `xml:"Part"`
	}
	partItem struct {
		PartNumber   int    `xml:"PartNumber"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int    `xml:"Size"`
	}
	listMultipartUploadsResult struct {
		XMLName xml.Name     `xml:"ListMultipartUploadsResult"`
		Xmlns   string       `xml:"xmlns,attr"`
		Bucket  string       `xml:"Bucket"`
		Uploads []uploadItem `xml:"Upload"`
	}
	uploadItem struct {
		Key       string `xml:"Key"`
		UploadID  string `xml:"UploadId"`
		Initiated string `xml:"Initiated"`
	}
	publicAccessBlockConfiguration struct {
		XMLName               xml.Name `xml:"PublicAccessBlockConfiguration"`
		Xmlns                 string   `xml:"xmlns,attr,omitempty"`
		BlockPublicAcls       bool     `xml:"BlockPublicAcls"`
		IgnorePublicAcls      bool     `xml:"IgnorePublicAcls"`
		BlockPublicPolicy     bool     `xml:"BlockPublicPolicy"`
		RestrictPublicBuckets bool     `xml:"RestrictPublicBuckets"`
	}
	serverSideEncryptionConfiguration struct {
		XMLName xml.Name `xml:"ServerSideEncryptionConfiguration"`
		Xmlns   string   `xml:"xmlns,attr,omitempty"`
		Rules   []struct {
			Default struct {
				SSEAlgorithm   string `xml:"SSEAlgorithm"`
				KMSMasterKeyID string `xml:"KMSMasterKeyID,omitempty"`
			} `xml:"ApplyServerSideEncryptionByDefault"`
			BucketKeyEnabled bool `xml:"BucketKeyEnabled"`
		} `xml:"Rule"`
	}
	versioningConfiguration struct {
		XMLName xml.Name `xml:"VersioningConfiguration"`
		Xmlns   string   `xml:"xmlns,attr,omitempty"`
		Status  string   `xml:"Status,omitempty"`
	}
	tagging struct {
		XMLName xml.Name `xml:"Tagging"`
		Xmlns   string   `xml:"xmlns,attr,omitempty"`
		Tags    []tag    `xml:"TagSet>Tag"`
	}
	tag struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	}
	policyStatus struct {
		XMLName  xml.Name `xml:"PolicyStatus"`
		Xmlns    string   `xml:"xmlns,attr"`
		IsPublic bool     `xml:"IsPublic"`
	}
	ownershipControls struct {
		XMLName xml.Name `xml:"OwnershipControls"`
		Xmlns   string   `xml:"xmlns,attr,omitempty"`
		Rules   []struct {
			ObjectOwnership string `xml:"ObjectOwnership"`
		} `xml:"Rule"`
	}
	accessControlPolicy struct {
		XMLName xml.Name `xml:"AccessControlPolicy"`
		Xmlns   string   `xml:"xmlns,attr"`
		Owner   owner    `xml:"Owner"`
		Grants  []grant  `xml:"AccessControlList>Grant"`
	}
	grant struct {
		Grantee struct {
			XMLNS string `xml:"xmlns:xsi,attr"`
			Type  string `xml:"xsi:type,attr"`
			ID    string `xml:"ID"`
		} `xml:"Grantee"`
		Permission string `xml:"Permission"`
	}
)
