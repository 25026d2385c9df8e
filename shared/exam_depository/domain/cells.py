"""A CSV cell a spreadsheet shows as text, never runs as a formula (CSV injection): the roster's
download and import (`domain.roster`) and the exports' manifest write and read cells so. Apart
from `domain.roster` because an export function needs only this, and that module loads the input
models its CSV parsers validate with (nine pydantic models and the csv module, about 3 ms of a
cold start)."""

# A spreadsheet runs a cell that begins with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralized(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula (or starts with the
    quote this adds) gets a leading `'`, which `restored` takes off again."""
    return "'" + cell if cell.startswith((*_FORMULA_STARTS, "'")) else cell


def restored(cell: str) -> str:
    """The value `neutralized` wrote, for a roster downloaded and imported again."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith((*_FORMULA_STARTS, "'")) else cell
