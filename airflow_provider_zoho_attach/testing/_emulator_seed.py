"""Seed data sets of the emulator (``seed="demo"``)."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_model import EmulatorData

__all__ = ["DEAL_FILE_FIELDS", "DEMO_RECORDS", "SEEDS", "apply_seed", "deal_with_files", "tiny_png"]

DAY = 86400.0

#: Fixed record ids of the ``demo`` seed; the example DAGs use them as defaults.
DEMO_RECORDS = {
    "acme_deal": "5725767000000100001",
    "globex_deal": "5725767000000100002",
    "lead": "5725767000000200001",
    "contact": "5725767000000300001",
}


def tiny_png(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (31, 119, 180)) -> bytes:
    """A valid, small PNG image of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _tiny_pdf(title: str) -> bytes:
    """A small but well-formed one-page PDF."""
    text = f"BT /F1 18 Tf 72 720 Td ({title}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


_PRICING_CSV = (
    "sku,description,quantity,unit_price,total\n"
    "WID-100,Standard widget,400,12.50,5000.00\n"
    "WID-200,Deluxe widget,100,27.00,2700.00\n"
    "SVC-001,Installation,1,950.00,950.00\n"
)

_NOTES = (
    "Call notes - quarterly review\n"
    "- Renewal expected next month; procurement needs the signed order form.\n"
    "- Send updated pricing for the deluxe line.\n"
)


def _demo(emulator: EmulatorData) -> list[dict[str, Any]]:
    now = float(int(emulator.clock.now()))
    deal = emulator.add_record("Deals", DEMO_RECORDS["acme_deal"], name="Acme Corp - 500 widgets")
    emulator.add_attachment(
        "Deals", deal, "proposal.pdf", _tiny_pdf("Proposal: 500 widgets"), created_time=now - 4 * DAY
    )
    emulator.add_attachment("Deals", deal, "pricing.csv", _PRICING_CSV, created_time=now - 3 * DAY + 3600)
    renewal = emulator.add_record("Deals", DEMO_RECORDS["globex_deal"], name="Globex renewal 2025")
    emulator.add_attachment(
        "Deals",
        renewal,
        "signed-order-form.pdf",
        _tiny_pdf("Order form - signed"),
        created_time=now - 2 * DAY,
    )
    lead = emulator.add_record("Leads", DEMO_RECORDS["lead"], name="Ada Lovelace")
    emulator.add_attachment("Leads", lead, "logo.png", tiny_png(16, 16), created_time=now - DAY - 7200)
    emulator.add_link_attachment(
        "Leads",
        lead,
        "https://www.example.com/brochure.html",
        title="Product brochure",
        created_time=now - DAY,
    )
    contact = emulator.add_record("Contacts", DEMO_RECORDS["contact"], name="Grace Hopper")
    emulator.add_attachment("Contacts", contact, "call-notes.txt", _NOTES, created_time=now - 5 * 3600)
    emulator.set_photo("Contacts", contact, tiny_png(32, 32, (200, 80, 40)))
    # Files in fields, added last so that the attachment ids above stay what they were.
    files = emulator.files
    _fill_deal_fields(emulator, deal, "Acme Corp", now)
    terms = _tiny_pdf("Renewal terms 2025")
    files.attach("Deals", renewal, "Supporting_Documents", "renewal-terms.pdf", terms, created_time=now - DAY)
    records = {(r["module"], r["record_id"]): r for r in emulator.records()}
    described = []
    for module, record_id in (("Deals", deal), ("Deals", renewal), ("Leads", lead), ("Contacts", contact)):
        record = records[(module, record_id)]
        described.append(
            {
                "module": module,
                "record_id": record_id,
                "name": record["name"],
                "attachments": record["attachments"],
                "field_files": len(files.field_files(module, record_id)),
            }
        )
    return described


#: The file and image fields the demo seed and :func:`deal_with_files` declare on Deals.
DEAL_FILE_FIELDS = (
    ("Signed_Contract", "fileupload", 1, "Signed Contract"),
    ("Supporting_Documents", "fileupload", 5, "Supporting Documents"),
    ("Photos", "imageupload", 5, "Photos"),
)


def _fill_deal_fields(emulator: EmulatorData, deal: str, company: str, now: float) -> None:
    """Declare :data:`DEAL_FILE_FIELDS` (where missing); put a signed PDF and two photos in a deal."""
    files = emulator.files
    declared = {field["api_name"] for field in files.fields("Deals")}
    for api_name, data_type, length, label in DEAL_FILE_FIELDS:
        if api_name not in declared:
            files.add_field("Deals", api_name, data_type, length=length, label=label)
    contract = _tiny_pdf(f"Contract - {company}, signed")
    files.attach(
        "Deals", deal, "Signed_Contract", "signed-contract.pdf", contract, created_time=now - 2 * DAY
    )
    for number, colour in ((1, (90, 140, 60)), (2, (160, 120, 70))):
        image = tiny_png(24, 16, colour)
        files.attach("Deals", deal, "Photos", f"site-{number}.png", image, created_time=now - DAY + number)


def deal_with_files(emulator: EmulatorData, name: str = "Initech - signed deal") -> dict[str, Any]:
    """
    A new deal whose fields hold files: ``Signed_Contract`` a PDF, ``Photos`` two PNG images
    (``Supporting_Documents``, up to 5 files, stays empty). The fields are declared if missing.

    :return: ``{"module", "record_id", "name", "field_files"}``, the entries as
        ``emulator.files.field_files()`` shows them.
    """
    record_id = emulator.add_record("Deals", name=name)
    _fill_deal_fields(emulator, record_id, name.partition(" - ")[0], float(int(emulator.clock.now())))
    return {
        "module": "Deals",
        "record_id": record_id,
        "name": name,
        "field_files": emulator.files.field_files("Deals", record_id),
    }


SEEDS = {"demo": _demo}


def apply_seed(emulator: EmulatorData, name: str) -> list[dict[str, Any]]:
    """
    Fill an emulator with a named data set.

    :return: the seeded records (module, record_id, name, number of attachments and of field files).
    :raises ValueError: unknown seed name.
    """
    try:
        seed = SEEDS[name]
    except KeyError:
        raise ValueError(f"unknown seed {name!r}; available: {', '.join(sorted(SEEDS))}") from None
    return seed(emulator)
