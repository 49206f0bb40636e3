package gates

import (
	"strings"
	"testing"
)

func FuzzAlarmNameFromARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:cloudwatch:us-east-1:111111111111:alarm:web-5xx",
		"arn:aws-cn:cloudwatch:cn-north-1:111111111111:alarm:a:b:c",
		"arn:aws:cloudwatch:us-east-1:111111111111:alarm:",
		"arn:aws:sns:us-east-1:111111111111:topic",
		"arn::cloudwatch:::alarm:x", "", ":::::::",
	} {
		f.Add(s, "111111111111", "us-east-1")
	}
	f.Fuzz(func(t *testing.T, arn, account, region string) {
		name, err := alarmNameFromARN(arn, account, region)
		if err != nil {
			if name != "" {
				t.Fatalf("alarmNameFromARN(%q) = %q and error %v", arn, name, err)
			}
			return
		}
		// A name is only ever the tail of an ARN of the target's account and region.
		if name == "" || !strings.HasPrefix(arn, "arn:") ||
			!strings.HasSuffix(arn, ":cloudwatch:"+region+":"+account+":alarm:"+name) {
			t.Fatalf("alarmNameFromARN(%q, %q, %q) = %q", arn, account, region, name)
		}
	})
}
