"""The box's label: box id, a QR code, the 911 notice with the box's dispatchable address, and the
backup-power notice (the lifeline works only while the box has power). PDF (fpdf2) and PNG (Pillow),
the QR code from segno, text in DejaVu Sans (fonts-dejavu-core: any address, not only Latin-1).

The texts are made by :func:`label_text` from the enrollment record (``enrollment.json`` in the bundle),
so both formats say the same; the QR code holds ``roamline:box:<box id>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamline.provisioning.errors import UsageError

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT, FONT_BOLD = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
WIDTH_MM, HEIGHT_MM = 100.0, 70.0
EMERGENCY_NUMBER = {"US": "911", "CA": "911", "MX": "911", "GB": "999", "AU": "000", "NZ": "111"}


@dataclass(frozen=True, slots=True)
class LabelText:
    title: str
    box_id: str
    qr: str
    line: str
    address: str
    emergency: str  # the 911 notice
    power: str  # the backup-power notice


def label_text(record: dict[str, Any]) -> LabelText:
    """What the label says, from an enrollment record (box id, name, line number, location)."""
    from roamline.wire.civic import describe

    box_id = record.get("box_id")
    if not isinstance(box_id, str) or not box_id:
        raise UsageError("enrollment record has no box_id")
    location = record.get("location") if isinstance(record.get("location"), dict) else None
    address = describe(location)
    country = str(((location or {}).get("civic") or {}).get("country", "")).upper()
    number = EMERGENCY_NUMBER.get(country, "112")
    line = record.get("line_number")
    line_text = _pretty_number(line) if isinstance(line, str) and line else "no phone line"
    if address:
        emergency = (f"EMERGENCY {number}: a {number} call from this phone gives the dispatcher "
                     f"this address: {address}. If this box is moved, its address must be updated first, "
                     "or help may be sent to the wrong place.")
    else:
        emergency = (f"EMERGENCY {number}: NO ADDRESS IS RECORDED for this box. A {number} call from it "
                     "cannot tell the dispatcher where you are: say your address.")
    emergency += (f" {number} calls go out on the box's own phone line"
                  if line_text != "no phone line" else f" {number} calls go through the internet")
    emergency += "; they fail if that line or the box's connection is down."
    power = ("POWER: this phone needs electricity. In a power cut it, and calling "
             f"{number} from it, works only while its backup battery lasts. Keep it plugged in and the "
             "backup charged.")
    name = str(record.get("name") or "box")
    return LabelText(f"Roamline — {name}", box_id, f"roamline:box:{box_id}", line_text, address, emergency,
                     power)


def _pretty_number(e164: str) -> str:
    try:
        import phonenumbers

        return str(phonenumbers.format_number(phonenumbers.parse(e164, None),
                                              phonenumbers.PhoneNumberFormat.INTERNATIONAL))
    except Exception:
        return e164


def read_record(bundle: Path) -> dict[str, Any]:
    from roamline.provisioning.enroll import ENROLLMENT_RECORD

    try:
        data = json.loads((bundle / ENROLLMENT_RECORD).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{bundle}: no {ENROLLMENT_RECORD} ({exc.strerror}); enroll the box first") from None
    except ValueError as exc:
        raise UsageError(f"{bundle}/{ENROLLMENT_RECORD}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{bundle}/{ENROLLMENT_RECORD}: not an object")
    return data


def _fonts() -> tuple[Path, Path]:
    for f in (FONT, FONT_BOLD):
        if not f.is_file():
            raise UsageError(f"{f}: font missing (apt-get install fonts-dejavu-core)")
    return FONT, FONT_BOLD


def write_pdf(text: LabelText, path: Path) -> None:
    import io

    import segno
    from fpdf import FPDF

    regular, bold = _fonts()
    pdf = FPDF(orientation="L", unit="mm", format=(HEIGHT_MM, WIDTH_MM))
    pdf.set_margins(4, 4, 4)
    pdf.set_auto_page_break(False)
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))
    pdf.add_page()
    qr = io.BytesIO()
    segno.make(text.qr, error="m").save(qr, kind="png", scale=8, border=2)
    qr.seek(0)
    pdf.image(qr, x=WIDTH_MM - 30, y=4, w=26, h=26)
    pdf.set_xy(4, 4)
    pdf.set_font("DejaVu", "B", 11)
    pdf.multi_cell(WIDTH_MM - 36, 5, text.title)
    pdf.set_font("DejaVu", "", 8)
    pdf.set_x(4)
    pdf.multi_cell(WIDTH_MM - 36, 4, f"Box id: {text.box_id}\nLine: {text.line}")
    pdf.set_xy(4, 32)
    pdf.set_font("DejaVu", "B", 7)
    pdf.multi_cell(WIDTH_MM - 8, 3.3, text.emergency)
    pdf.set_x(4)
    pdf.ln(1.5)
    pdf.set_font("DejaVu", "", 7)
    pdf.multi_cell(WIDTH_MM - 8, 3.3, text.power)
    if pdf.get_y() > HEIGHT_MM - 2:
        raise UsageError("the label text does not fit on the label (address too long?)")
    pdf.output(str(path))


def write_png(text: LabelText, path: Path, dpi: int = 300) -> None:
    import io

    import segno
    from PIL import Image, ImageDraw, ImageFont

    regular, bold = _fonts()
    px = dpi / 25.4
    width, height = round(WIDTH_MM * px), round(HEIGHT_MM * px)
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    margin = round(4 * px)
    qr_size = round(26 * px)
    qr = segno.make(text.qr, error="m")
    modules = qr.symbol_size(scale=1, border=2)[0]
    scale = max(1, qr_size // modules)
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=scale, border=2)
    buf.seek(0)
    qr_img = Image.open(buf).convert("L")
    img.paste(qr_img, (width - margin - qr_img.width, margin))

    def block(y: int, content: str, size_mm: float, font_path: Path, right: int) -> int:
        font = ImageFont.truetype(str(font_path), round(size_mm * px))
        for paragraph in content.split("\n"):
            words, line = paragraph.split(" "), ""
            for word in words:
                trial = f"{line} {word}".strip()
                if draw.textlength(trial, font=font) <= right - margin or not line:
                    line = trial
                else:
                    draw.text((margin, y), line, font=font, fill=0)
                    y += round(size_mm * px * 1.25)
                    line = word
            draw.text((margin, y), line, font=font, fill=0)
            y += round(size_mm * px * 1.25)
        return y

    narrow = width - margin - qr_img.width - margin
    y = block(margin, text.title, 3.8, bold, narrow)
    block(y + round(px), f"Box id: {text.box_id}\nLine: {text.line}", 2.8, regular, narrow)
    y = max(margin + qr_img.height, y) + round(2 * px)
    y = block(y, text.emergency, 2.4, bold, width - margin)
    y = block(y + round(1.5 * px), text.power, 2.4, regular, width - margin)
    if y > height:
        raise UsageError("the label text does not fit on the label (address too long?)")
    img.save(path, format="PNG", dpi=(dpi, dpi))
