"""What a member of an exam is shown of its students, by role: a roster's rule, apart from
`access` (which every examiner route loads) so that the functions that show no student do not
define it."""

from dataclasses import dataclass

from exam_depository.domain.access import EXAMINERS, Role


@dataclass(frozen=True)
class Disclosure:
    """What a member is shown of each student: `names` the nickname, first and last name and
    email; `pseudonym`; `upload_codes` (a code lets its holder hand in as the student);
    `verification` the verification codes and receipts of submissions (each a download)."""

    names: bool
    pseudonym: bool
    upload_codes: bool
    verification: bool


def disclosure(role: Role, *, anonymous: bool) -> Disclosure:
    """Owners and co-examiners see everything. A grader marks: no upload codes, and in an
    anonymous exam the pseudonym alone. An invigilator checks people in the room by name and
    grants time: no codes of either kind, and no pseudonym (which would undo anonymity)."""
    if role in EXAMINERS:
        return Disclosure(names=True, pseudonym=True, upload_codes=True, verification=True)
    if role is Role.GRADER:
        return Disclosure(names=not anonymous, pseudonym=True, upload_codes=False, verification=True)
    return Disclosure(names=True, pseudonym=False, upload_codes=False, verification=False)
