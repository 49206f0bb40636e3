package awsproto_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

const benchForm = "Action=CreateStack&Version=2010-05-15&StackName=web&TemplateBody=Resources%3A+%7B%7D" +
	"&Parameters.member.1.ParameterKey=Env&Parameters.member.1.ParameterValue=prod" +
	"&Parameters.member.2.ParameterKey=Size&Parameters.member.2.ParameterValue=3" +
	"&Capabilities.member.1=CAPABILITY_IAM&Tags.member.1.Key=team&Tags.member.1.Value=infra"

func BenchmarkDecodeQuery(b *testing.B) {
	for b.Loop() {
		if _, err := awsproto.Decode(newQuery(benchForm)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCBOR(b *testing.B) {
	body := cbor.Encode(cbor.Map{"AlarmNames": cbor.List{cbor.String("a"), cbor.String("b")}, "MaxRecords": cbor.Uint(10)})
	for b.Loop() {
		if _, err := awsproto.Decode(newCBOR("DescribeAlarms", bytes.Clone(body))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, p := range []awsproto.Protocol{awsproto.Query, awsproto.JSON11, awsproto.RPCv2CBOR} {
		b.Run(p.String(), func(b *testing.B) {
			req := &awsproto.Request{Protocol: p, Service: "cloudformation", Action: "DescribeStacks", RequestID: "r"}
			res := awsproto.Object{"Stacks": []any{sample(), sample()}}
			for b.Loop() {
				awsproto.Encode(httptest.NewRecorder(), req, res, nil)
			}
		})
	}
}
