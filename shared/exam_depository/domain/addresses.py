"""An email address as mail goes to it: what is sent to, compared and suppressed. Apart from
`domain.mail` so that the functions that take an address (the roster's) load none of the mail's
states, limits and facts."""

from __future__ import annotations

UNICODE_LOCAL_PART = (
    "The part before the @ has a character email cannot carry here ({characters}): use an address with only"
    " ASCII letters, digits and . _ - + before the @"
)


def normalized_address(email: str) -> str:
    """email-validator's ASCII form of an address (an IDN domain in punycode), lower-cased: what
    is sent to, compared and suppressed. ValueError, in a sentence a person fixing a roster acts
    on, when it is not an address SES can send to: its syntax (RFC 5321/5322, the domain by IDNA
    2008), a Unicode part before the @ (SES takes ASCII there only), a quoted part or an IP address.
    Nothing is looked up: whether the domain receives mail is SES's bounce to tell."""
    # Loaded here: only the functions that check an address pay its import (about 22 ms).
    from email_validator import EmailNotValidError, validate_email

    local_part = email.rpartition("@")[0]
    unicode = ", ".join(dict.fromkeys(character for character in local_part if not character.isascii()))
    if unicode:
        raise ValueError(UNICODE_LOCAL_PART.format(characters=unicode))
    try:
        checked = validate_email(
            email,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    assert checked.ascii_email is not None  # set whenever the local part is ASCII (checked above)
    return checked.ascii_email.lower()
