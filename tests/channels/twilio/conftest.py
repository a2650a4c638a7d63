from tests.twilio_support import twilio_api  # noqa: F401  (the fixture)
