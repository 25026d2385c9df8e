"""SES's event records as AWS documents them ("Examples of event data that Amazon SES publishes to
Amazon SNS": Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay), and the two envelopes they
arrive in: EventBridge's (what the configuration set's EventBridge destination puts on the default
bus, and the rule sends to the mail events queue) and SNS's notification (an SNS destination whose
subscription does not deliver raw). The records keep AWS's values but for the configuration set,
which is ours, and our tag `message` beside AWS's sample tags."""

from __future__ import annotations

import copy
import json
from typing import Any

CONFIGURATION_SET = "exam-depository-test"
MESSAGE_ID = "0f8e2a4c-3b1d-4e5f-9a6b-7c8d9e0f1a2b"  # our message's id, its tag `message`
SES_MESSAGE_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
DETAIL_TYPES = {
    "Send": "Email Sent",
    "Delivery": "Email Delivered",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
    "Reject": "Email Rejected",
    "DeliveryDelay": "Email Delivery Delayed",
}


def _mail(
    timestamp: str, *, source: str = "sender@example.com", content_type: str = "text/html; charset=UTF-8"
) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "source": source,
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": SES_MESSAGE_ID,
        "destination": ["recipient@example.com"],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": source},
            {"name": "To", "value": "recipient@example.com"},
            {"name": "Subject", "value": "Message sent from Amazon SES"},
            {"name": "MIME-Version", "value": "1.0"},
            {"name": "Content-Type", "value": content_type},
        ],
        "commonHeaders": {
            "from": [source],
            "to": ["recipient@example.com"],
            "messageId": SES_MESSAGE_ID,
            "subject": "Message sent from Amazon SES",
        },
        "tags": {
            "ses:configuration-set": [CONFIGURATION_SET],
            "ses:source-ip": ["192.0.2.0"],
            "ses:from-domain": ["example.com"],
            "ses:caller-identity": ["ses_user"],
            "message": [MESSAGE_ID],
            "kind": ["invitation"],
        },
    }


RECORDS: dict[str, dict[str, Any]] = {
    "Send": {"eventType": "Send", "mail": _mail("2016-10-14T05:02:16.645Z"), "send": {}},
    "Delivery": {
        "eventType": "Delivery",
        "mail": _mail("2016-10-19T23:20:52.240Z"),
        "delivery": {
            "timestamp": "2016-10-19T23:21:04.133Z",
            "processingTimeMillis": 11893,
            "recipients": ["recipient@example.com"],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "mta.example.com",
        },
    },
    "Bounce": {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": "recipient@example.com",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2017-08-05T00:41:02.669Z",
            "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
            "reportingMTA": "dsn; mta.example.com",
        },
        "mail": _mail("2017-08-05T00:40:02.012Z", source="Sender Name <sender@example.com>"),
    },
    "Complaint": {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "recipient@example.com"}],
            "timestamp": "2017-08-05T00:41:02.669Z",
            "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2017-08-05T00:41:02.669Z",
        },
        "mail": _mail("2017-08-05T00:40:01.123Z", source="Sender Name <sender@example.com>"),
    },
    "Reject": {"eventType": "Reject", "mail": _mail("2016-10-14T17:38:15.211Z"), "reject": {"reason": "Bad content"}},
    "DeliveryDelay": {
        "eventType": "DeliveryDelay",
        "mail": _mail("2020-06-16T00:15:40.641Z"),
        "deliveryDelay": {
            "timestamp": "2020-06-16T00:25:40.095Z",
            "delayType": "TransientCommunicationFailure",
            "expirationTime": "2020-06-16T00:25:40.914Z",
            "delayedRecipients": [
                {
                    "emailAddress": "recipient@example.com",
                    "status": "4.4.1",
                    "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
                }
            ],
        },
    },
}


def record(event_type: str, **mail_changes: Any) -> dict[str, Any]:
    """A copy of AWS's record of this type, with `mail`'s fields changed as given."""
    found = copy.deepcopy(RECORDS[event_type])
    found["mail"].update(mail_changes)
    return found


def eventbridge(record: dict[str, Any], *, event_id: str = "4d4f3a0c-4b4a-4b4e-9e1a-3f2f0b9d6f11") -> dict[str, Any]:
    """The record as SES's EventBridge destination puts it on the default bus (and the rule's
    queue holds it): the envelope of every AWS event, the record its `detail`."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": DETAIL_TYPES[record["eventType"]],
        "source": "aws.ses",
        "account": "123456789012",
        "time": str(record.get("mail", {}).get("timestamp", "2017-08-05T00:41:02"))[:19] + "Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:ses:us-east-1:123456789012:configuration-set/{CONFIGURATION_SET}"],
        "detail": record,
    }


def sns_notification(record: dict[str, Any]) -> dict[str, Any]:
    """The record as an SNS topic delivers it to an SQS queue without raw message delivery."""
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Message": json.dumps(record),
        "Timestamp": "2017-08-05T00:41:03.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bk",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        "arn:aws:sns:us-east-1:123456789012:ses-events:c9135db0-26c4-47ec-8998-413945fb5a96",
    }
