"""A real LTI 1.3 platform on loopback for the tests: keys, id tokens, the platform's server
(around lti1p3platform) and the dynamic-registration harness written from the IMS specification."""
