"""Reading import files: encodings, delimiters, XLSX, mapping, validation, duplicates."""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialerd.domain.contact_import import ParsedContact, ProblemKind, RowProblem
from dialerd.taskflow.importing import (
    CSV_CELL_LIMIT,
    ColumnMapping,
    ImportFileError,
    MappingError,
    build_plan,
    open_table,
    parse_rows,
    parse_table,
)

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "c.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def parse(
    path: Path, mapping: ColumnMapping | None = None, **kw: object
) -> tuple[list[ParsedContact], list[RowProblem], int]:
    mapping = mapping or ColumnMapping()
    with open_table(path, sheet=mapping.sheet, delimiter=mapping.delimiter) as table:
        plan = build_plan(table.header, mapping)
        contacts: list[ParsedContact] = []
        problems: list[RowProblem] = []
        rows = 0
        for chunk in parse_table(table, plan, workers=0, **kw):  # type: ignore[arg-type]
            contacts += [ParsedContact._make(c) for c in chunk.contacts]
            problems += chunk.problems
            rows += chunk.rows
    return contacts, problems, rows


def test_bad_rows_are_reported_with_row_column_and_reason_and_good_rows_kept(
    tmp_path: Path,
) -> None:
    p = write(
        tmp_path,
        "phone,first_name,email,timezone\n"
        "030 1234567,Anna,anna@example.com,\n"  # row 2 good
        ",Ben,,\n"  # row 3 missing phone
        "12,Carl,,\n"  # row 4 unparsable
        "+49 40 3456789,Dora,dora(at)example.com,\n"  # row 5 bad e-mail
        "+49 89 12345678,Emil,,Mars/Olympus\n"  # row 6 unknown zone
        "+1 212 555 2368,Fay,fay@example.com,america/new_york\n",  # row 7 good
    )
    contacts, problems, rows = parse(p)
    assert [c.row for c in contacts] == [2, 7]
    assert contacts[0].phone == "+49301234567" and contacts[0].timezone == "Europe/Berlin"
    assert contacts[1].timezone == "America/New_York"  # canonical spelling
    got = [(q.row, q.column, q.reason.split(" (")[0]) for q in problems]
    assert got == [
        (3, "phone", "missing phone number"),
        (4, "phone", "unusable phone number: not a valid number"),
        (5, "email", "not a valid e-mail address"),
        (6, "timezone", "unknown time zone 'Mars/Olympus'"),
    ]
    assert rows == 6


def test_a_row_with_several_bad_cells_reports_each(tmp_path: Path) -> None:
    p = write(tmp_path, "phone,email,timezone\nabc,nope,Nowhere/Else\n")
    contacts, problems, _ = parse(p)
    assert contacts == []
    assert {q.column for q in problems} == {"phone", "email", "timezone"}
    assert {q.row for q in problems} == {2}


def test_duplicates_within_the_file_are_reported_not_merged(tmp_path: Path) -> None:
    p = write(tmp_path, "phone,first_name\n030 1234567,A\n+49301234567,B\n+49 30 1234567,C\n")
    contacts, problems, rows = parse(p)
    assert [(c.row, c.first_name) for c in contacts] == [(2, "A")]
    assert [(q.row, q.kind) for q in problems] == [
        (3, ProblemKind.DUPLICATE),
        (4, ProblemKind.DUPLICATE),
    ]
    assert "row 2" in problems[0].reason
    assert rows == 3


def test_duplicates_are_found_across_chunks(tmp_path: Path) -> None:
    body = "".join(f"+4930{1000000 + i}\n" for i in range(30)) + "+49301000003\n"
    p = write(tmp_path, "phone\n" + body)
    contacts, problems, _ = parse(p, chunk_rows=7)
    assert len(contacts) == 30
    assert [(q.row, q.kind) for q in problems] == [(32, ProblemKind.DUPLICATE)]


def test_the_same_external_id_twice_in_a_file_is_a_duplicate(tmp_path: Path) -> None:
    p = write(tmp_path, "phone,external_id\n+4930600001,K1\n+4930600002,K1\n+4930600003,K2\n")
    contacts, problems, _ = parse(p)
    assert [c.row for c in contacts] == [2, 4]
    assert [(q.row, q.column, q.kind, q.value) for q in problems] == [
        (3, "external_id", ProblemKind.DUPLICATE, "K1")
    ]
    assert "duplicate of row 2 (same external id K1)" in problems[0].reason


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    text = "Telefon;Vorname;Nachname\n030 1234567;Jürgen;Weiß\n"
    p = write(tmp_path, text, encoding)
    contacts, problems, _ = parse(p)
    assert problems == []
    assert (contacts[0].first_name, contacts[0].last_name) == ("Jürgen", "Weiß")


def test_a_wrong_encoding_given_is_a_file_error_naming_it(tmp_path: Path) -> None:
    p = write(tmp_path, "phone\n030 1234567\n")
    with pytest.raises(ImportFileError, match="cannot be read as utf-16 text"):
        open_table(p, encoding="utf-16")


def test_a_utf8_file_with_a_stray_latin1_byte_is_read_as_utf8(tmp_path: Path) -> None:
    p = tmp_path / "mixed.csv"
    good = "".join(f"+49306000{i:02d},Jürgen\n" for i in range(10)).encode("utf-8")
    p.write_bytes(b"phone,first_name\n" + good + b"+4930600099,J\xfcrgen\n")
    contacts, problems, rows = parse(p)
    assert {c.first_name for c in contacts} == {"Jürgen"} and len(contacts) == 10
    assert [(q.row, q.column, q.value) for q in problems] == [(12, "first_name", "J\\xfcrgen")]
    assert "not text in the file's encoding" in problems[0].reason
    assert rows == 11
    with open_table(p) as t:
        assert t.encoding == "utf-8"


def test_utf16_without_a_byte_order_mark_says_which_encoding_to_give(tmp_path: Path) -> None:
    p = write(tmp_path, "phone;first_name\n030 1234567;Jürgen\n", "utf-16-le")
    with pytest.raises(ImportFileError, match="UTF-16 .*--encoding utf-16-le"):
        open_table(p)
    with open_table(p, encoding="utf-16-le") as t:  # and that advice works
        plan = build_plan(t.header, ColumnMapping())
        [chunk] = parse_table(t, plan, workers=0)
    assert ParsedContact._make(chunk.contacts[0]).first_name == "Jürgen"


def test_a_nul_byte_after_the_sniffed_sample_rejects_its_row(tmp_path: Path) -> None:
    body = "".join(f"+4930{2000000 + i},n\n" for i in range(6000))  # past the first 64 KiB
    p = write(tmp_path, "phone,note\n" + body + "+4930600001,a\x00b\n")
    contacts, problems, _ = parse(p)
    assert len(contacts) == 6000
    assert [(q.row, q.column, q.value) for q in problems] == [(6002, "note", "a\\x00b")]
    assert "NUL" in problems[0].reason


def test_bom_is_not_part_of_the_first_header(tmp_path: Path) -> None:
    p = tmp_path / "bom.csv"
    p.write_bytes(codecs.BOM_UTF8 + b"phone,name\n+49301234567,x\n")
    with open_table(p) as t:
        assert t.header == ["phone", "name"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter)
    w.writerow(["phone", "first_name", "company"])
    w.writerow(["030 1234567", "Anna", "Müller, Schmidt & Co; KG"])
    w.writerow(["040 3456789", "O'Brien", "x"])
    p = write(tmp_path, buf.getvalue())
    contacts, problems, _ = parse(p)
    assert problems == []
    assert contacts[0].company == "Müller, Schmidt & Co; KG"
    assert contacts[1].first_name == "O'Brien"


def test_single_column_file(tmp_path: Path) -> None:
    contacts, _, _ = parse(write(tmp_path, "phone\n030 1234567\n040 3456789\n"))
    assert len(contacts) == 2


def test_row_numbers_count_records_and_skip_blank_rows(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        'phone,note\n030 1234567,"two\nlines"\n\n,,\nbad,x\n',
    )
    contacts, problems, rows = parse(p)
    assert contacts[0].fields == {"note": "two\nlines"}
    assert [q.row for q in problems] == [5]  # header 1, quoted record 2, blank 3, empty 4
    assert rows == 2


def test_an_unclosed_quote_is_reported_and_the_rows_after_it_are_kept(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "phone,first_name\n"
        '+4930600001,"unterminated\n'  # row 2: the quote never closes
        "+4930600002,B\n"
        '+4930600003,"Smith, J"\n'  # a properly quoted cell after it
        '+4930600004,"two\nlines"\n'  # a quoted cell spanning lines is still one cell
        '+4930600005,"Smith" Jr\n'  # text after a closing quote: read leniently, as always
        '+4930600006,"open at the end',
    )
    contacts, problems, rows = parse(p)
    assert [(c.row, c.first_name) for c in contacts] == [
        (3, "B"),
        (4, "Smith, J"),
        (5, "two\nlines"),
        (6, "Smith Jr"),
    ]
    assert [(q.row, q.column, q.value) for q in problems] == [
        (2, "first_name", '"unterminated'),
        (7, "first_name", '"open at the end'),
    ]
    assert "quote that opens this cell is never closed" in problems[0].reason
    assert rows == 6


def test_an_unclosed_quote_in_a_big_file_costs_one_row(tmp_path: Path) -> None:
    # Without a later quote the unclosed one ran on over every following line up to the csv
    # module's cell limit (128 KiB), and the whole file failed.
    body = "".join(f"+4930{2000000 + i},N{i}\n" for i in range(12_000))
    p = write(tmp_path, 'phone,first_name\n+4930600001,"no end\n' + body)
    contacts, problems, rows = parse(p, chunk_rows=5000)
    assert len(contacts) == 12_000 and contacts[0].row == 3 and contacts[-1].row == 12_002
    assert [(q.row, q.column) for q in problems] == [(2, "first_name")]
    assert rows == 12_001


def test_an_oversized_cell_rejects_its_row_not_the_file(tmp_path: Path) -> None:
    body = "".join(f"+4930{2000000 + i},x\n" for i in range(100))
    p = write(
        tmp_path,
        "phone,note\n"
        + body
        + f"+4930600001,{'a' * 140_000}\n"  # over the csv module's 128 KiB cell limit
        + f'+4930600002,"{"b" * (CSV_CELL_LIMIT + 10)}"\n'  # over the reader's own
        + "+4930600003,fine\n",
    )
    contacts, problems, rows = parse(p)
    assert len(contacts) == 101 and contacts[-1].fields == {"note": "fine"}
    assert [(q.row, q.column) for q in problems] == [(102, "note"), (103, "note")]
    assert "longer than 65,536 characters (140,000)" in problems[0].reason
    assert f"a cell of {CSV_CELL_LIMIT + 10:,} characters" in problems[1].reason
    assert rows == 103


def test_extra_cells_are_a_problem_missing_trailing_cells_are_empty(tmp_path: Path) -> None:
    p = write(tmp_path, "phone,first_name,last_name\n030 1234567,A\n040 3456789,B,C,surplus\n")
    contacts, problems, _ = parse(p)
    assert [c.first_name for c in contacts] == ["A"]
    assert problems[0].row == 3 and problems[0].column is None
    assert "4 cells" in problems[0].reason


def test_too_long_values_are_reported_not_truncated(tmp_path: Path) -> None:
    p = write(tmp_path, f"phone,first_name\n030 1234567,{'x' * 201}\n")
    _, problems, _ = parse(p)
    assert problems[0].column == "first_name"
    assert "longer than 200" in problems[0].reason


def test_custom_field_values_have_a_length_limit(tmp_path: Path) -> None:
    p = write(tmp_path, f"phone,note\n+4930600001,{'a' * 100_000}\n+4930600002,{'b' * 65_536}\n")
    contacts, problems, _ = parse(p)
    assert [c.row for c in contacts] == [3]
    assert [(q.row, q.column) for q in problems] == [(2, "note")]
    assert "longer than 65,536 characters (100,000)" in problems[0].reason
    with pytest.raises(MappingError, match="variable fields.source: longer than 65,536"):
        build_plan(["phone"], ColumnMapping().with_pairs(variables=[f"source={'x' * 70_000}"]))


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="empty"):
        open_table(write(tmp_path, "\n\n"))
    with pytest.raises(ImportFileError, match="no such file"):
        open_table(tmp_path / "missing.csv")
    (tmp_path / "bin.csv").write_bytes(b"phone\x00\x01\x02" * 10)
    with pytest.raises(ImportFileError, match="binary"):
        open_table(tmp_path / "bin.csv")
    (tmp_path / "fake.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ImportFileError, match="XLSX"):
        open_table(tmp_path / "fake.xlsx")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0 old excel")
    with pytest.raises(ImportFileError, match="xls"):
        open_table(tmp_path / "old.xls")


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    contacts, problems, rows = parse(write(tmp_path, "phone,first_name\n"))
    assert (contacts, problems, rows) == ([], [], 0)


# ---- XLSX


def make_xlsx(path: Path, rows: list[list[object]], sheet: str = "Kontakte") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    other = wb.create_sheet("Other")
    other.append(["nothing"])
    wb.save(path)
    return path


def test_xlsx_rows_numbers_and_numeric_cells(tmp_path: Path) -> None:
    p = make_xlsx(
        tmp_path / "c.xlsx",
        [
            ["Telefon", "Vorname", "Kundennummer", "Umsatz"],
            ["+49 30 1234567", "Anna", 1001, 12.5],
            [None, None, None, None],
            # typed as a number: Excel dropped the '+'; it starts with the region's code
            [4930123456789, "Ben", 1002, 3.0],
            ["not a number", "Carl", 1003, None],
        ],
    )
    contacts, problems, rows = parse(p)
    assert [(c.row, c.first_name, c.external_id) for c in contacts] == [
        (2, "Anna", "1001"),
        (4, "Ben", "1002"),
    ]
    assert contacts[0].fields == {"Umsatz": "12.5"}
    assert contacts[1].phone == "+4930123456789" and contacts[1].fields == {"Umsatz": "3"}
    assert [(q.row, q.column, q.value) for q in problems] == [(5, "Telefon", "not a number")]
    assert rows == 3


def test_a_sheet_given_for_a_csv_file_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "phone\n030 1234567\n")
    with pytest.raises(ImportFileError, match="sheet 'Kontakte' .* CSV file, which has no sheets"):
        open_table(p, sheet="Kontakte")


def test_xlsx_phone_with_decimals_is_rejected_whole_numbers_still_import(tmp_path: Path) -> None:
    p = make_xlsx(
        tmp_path / "c.xlsx",
        [
            ["Telefon", "Umsatz"],
            [49301234.58, 12.5],  # not a phone number: +4930123458 was imported
            [4930123456.0, 3.25],  # a whole number stored as a float: fine
        ],
    )
    contacts, problems, _ = parse(p)
    assert [(c.row, c.phone, c.fields) for c in contacts] == [
        (3, "+4930123456", {"Umsatz": "3.25"})
    ]
    assert [(q.row, q.column, q.value) for q in problems] == [(2, "Telefon", "49301234.58")]
    assert "a number with decimals, not a phone number" in problems[0].reason


def test_xlsx_formula_without_a_stored_result_is_named_as_such(tmp_path: Path) -> None:
    # openpyxl, like other programs writing XLSX, stores formulas without results.
    p = make_xlsx(
        tmp_path / "c.xlsx",
        [["phone", "first_name"], ['="+4930"&"600001"', "Anna"], ["+4930600002", "=A2"]],
    )
    contacts, problems, _ = parse(p)
    assert contacts == []
    assert [(q.row, q.column, q.value) for q in problems] == [
        (2, "phone", '="+4930"&"600001"'),
        (3, "first_name", "=A2"),
    ]
    assert all("formula without a stored result" in q.reason for q in problems)
    assert "save it" in problems[0].reason
    # Saved by a spreadsheet program, a formula has its result stored: that is what is read.
    with zipfile.ZipFile(p) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(
        b'<c r="B3"><f>A2</f><v /></c>', b'<c r="B3" t="str"><f>A2</f><v>Anna</v></c>'
    )
    with zipfile.ZipFile(p, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    contacts, problems, _ = parse(p)
    assert [(c.row, c.first_name) for c in contacts] == [(3, "Anna")]
    assert [q.row for q in problems] == [2]


def test_xlsx_sheet_selection(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "c.xlsx", [["phone"], ["030 1234567"]])
    with open_table(p) as t:
        assert t.sheet == "Kontakte" and t.format == "xlsx"
    with pytest.raises(ImportFileError, match="no sheet 'Nope'.*Kontakte, Other"):
        open_table(p, sheet="Nope")
    with (
        pytest.raises(MappingError, match="no column is mapped to phone"),
        open_table(p, sheet="Other") as t,
    ):
        build_plan(t.header, ColumnMapping())


# ---- Mapping


def test_mapping_file_with_columns_variables_and_custom_fields(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "Nummer;Name;Kunde;Tarif;Notiz;Quelle\n"
        "030 1234567;Anna;K1;gold;secret;\n"
        "040 3456789;Ben;K2;silver;x;Website\n",
    )
    m = tmp_path / "m.toml"
    m.write_text(
        '[columns]\nNummer = "phone"\nname = "first_name"\nKunde = "external_id"\n'
        'Tarif = "fields.tariff"\nNotiz = "ignore"\nQuelle = "fields.source"\n'
        '[variables]\nsource = "fair 2026"\ncompany = "ACME"\n'
    )
    contacts, problems, _ = parse(p, ColumnMapping.from_toml(m))
    assert problems == []
    anna, ben = contacts
    assert (anna.first_name, anna.external_id, anna.company) == ("Anna", "K1", "ACME")
    assert anna.fields == {"tariff": "gold", "source": "fair 2026"}
    assert ben.fields == {"tariff": "silver", "source": "Website"}  # the cell wins


def test_unmapped_columns_kept_as_fields_on_request(tmp_path: Path) -> None:
    p = write(tmp_path, "tel,a,b\n030 1234567,1,2\n")
    mapping = ColumnMapping.from_dict({"columns": {"tel": "phone"}, "unmapped": "fields"})
    contacts, _, _ = parse(p, mapping)
    assert contacts[0].fields == {"a": "1", "b": "2"}
    contacts, _, _ = parse(p, ColumnMapping.from_dict({"columns": {"tel": "phone"}}))
    assert contacts[0].fields == {}


def test_without_mapping_headers_are_recognised_and_the_rest_kept(tmp_path: Path) -> None:
    p = write(
        tmp_path, "Telefonnummer,Vorname,Last Name,E-Mail,Firma,Tarif\n030 1234567,A,B,a@b.de,F,x\n"
    )
    contacts, _, _ = parse(p)
    c = contacts[0]
    assert (c.first_name, c.last_name, c.email, c.company) == ("A", "B", "a@b.de", "F")
    assert c.fields == {"Tarif": "x"}


def test_command_line_pairs_extend_the_mapping(tmp_path: Path) -> None:
    p = write(tmp_path, "n,x\n030 1234567,1\n")
    mapping = ColumnMapping().with_pairs(["n=phone", "x=fields.extra"], ["wave=3"])
    contacts, _, _ = parse(p, mapping)
    assert contacts[0].fields == {"extra": "1", "wave": "3"}


@pytest.mark.parametrize(
    ("mapping", "header", "message"),
    [
        ({"columns": {"Tel": "phone"}}, ["phone"], "column 'Tel' is not in the file.*'phone'"),
        ({"columns": {"a": "phone", "b": "phone"}}, ["a", "b"], "both mapped to phone"),
        ({"columns": {"a": "first_name"}}, ["a", "b"], "no column is mapped to phone"),
        ({"columns": {"a": "surname"}}, ["a"], "unknown field 'surname'"),
        ({"columns": {"a": "fields."}}, ["a"], "custom field name"),
        ({"columnz": {}}, ["a"], "unknown key 'columnz'"),
        ({"columns": {"a": "phone"}, "variables": {"phone": "1"}}, ["a"], "phone cannot be"),
        ({"columns": {"a": "phone"}, "variables": {"timezone": "Moon"}}, ["a"], "unknown time"),
        ({"columns": {"a": "phone"}, "unmapped": "keep"}, ["a"], "unmapped must be"),
        ({"columns": {"a": "phone"}, "region": "XX"}, ["a"], "unknown region"),
        ({"columns": {"a": "phone"}}, ["a", "a"], "more than once"),
    ],
)
def test_mapping_errors_name_the_problem(
    mapping: dict[str, object], header: list[str], message: str
) -> None:
    with pytest.raises(MappingError, match=message):
        build_plan(header, ColumnMapping.from_dict(mapping))


def test_columns_with_the_same_name_refuse_the_file(tmp_path: Path) -> None:
    p = write(tmp_path, "phone,note,note\n+4930600001,x,y\n")
    with pytest.raises(MappingError, match=r"2 columns are named 'note' \(columns 2, 3\)"):
        parse(p)
    with pytest.raises(MappingError, match="named 'note'"):
        parse(p, ColumnMapping.from_dict({"columns": {"phone": "phone"}, "unmapped": "fields"}))
    # A mapping file that ignores unmapped columns does not need them.
    contacts, _, _ = parse(p, ColumnMapping.from_dict({"columns": {"phone": "phone"}}))
    assert len(contacts) == 1


def test_headers_alike_in_their_first_64_characters_refuse_the_file(tmp_path: Path) -> None:
    long = "x" * 64
    p = write(tmp_path, f"phone,{long}1,{long}2\n+4930600001,a,b\n")
    with pytest.raises(MappingError, match="would both be custom field .*first 64 characters"):
        parse(p)


def test_a_value_in_a_column_without_a_name_rejects_its_row(tmp_path: Path) -> None:
    p = write(tmp_path, "phone,,x\n+4930600001,lost,y\n+4930600002,,z\n")
    contacts, problems, rows = parse(p)
    assert [(c.row, c.fields) for c in contacts] == [(3, {"x": "z"})]
    assert [(q.row, q.column, q.value) for q in problems] == [(2, "column 2", "lost")]
    assert "without a name in the header" in problems[0].reason
    assert rows == 2


def test_mapping_file_errors(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such mapping file"):
        ColumnMapping.from_toml(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[columns\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        ColumnMapping.from_toml(bad)
    with pytest.raises(MappingError, match="expected KEY=VALUE"):
        ColumnMapping().with_pairs(["phone"])


def test_example_mapping_file_is_valid() -> None:
    mapping = ColumnMapping.from_toml(REPO / "config" / "imports" / "example-mapping.toml")
    assert not mapping.auto and mapping.columns["Telefon"] == "phone"
    assert mapping.variables["fields.source"] == "Messe Hannover 2026"


def test_sample_files_parse_as_documented() -> None:
    contacts, problems, rows = parse(REPO / "config" / "contacts" / "sample.csv")
    assert problems == [] and rows == len(contacts) >= 2000
    zones = {c.timezone for c in contacts}
    assert {"Europe/Berlin", "America/New_York", "America/Chicago"} <= zones
    contacts, problems, rows = parse(REPO / "config" / "contacts" / "sample-with-errors.csv")
    assert contacts and problems
    assert rows == len(contacts) + len({q.row for q in problems})


# ---- parse_rows as a pure function


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12),
            min_size=0,
            max_size=5,
        ),
        max_size=12,
    )
)
def test_parse_rows_accounts_for_every_nonblank_row(cells: list[list[str]]) -> None:
    plan = build_plan(["phone", "first_name", "email", "timezone"], ColumnMapping())
    rows = [(i + 2, r) for i, r in enumerate(cells)]
    records, problems, counted = parse_rows(plan, rows)
    contacts = [ParsedContact._make(c) for c in records]
    nonblank = {n for n, r in rows if any(c.strip() for c in r)}
    assert counted == len(nonblank)
    good = {c.row for c in contacts}
    bad = {q.row for q in problems}
    assert good | bad == nonblank and not good & bad


def test_parallel_parse_gives_the_same_result(tmp_path: Path) -> None:
    lines = ["phone,first_name"]
    for i in range(400):
        lines.append(f"+4930{2000000 + i % 350},N{i}" if i % 50 else f"bad{i},N{i}")
    p = write(tmp_path, "\n".join(lines) + "\n")
    with open_table(p) as t:
        plan = build_plan(t.header, ColumnMapping())
        serial = list(parse_table(t, plan, workers=0, chunk_rows=37))
    with open_table(p) as t:
        parallel = list(parse_table(t, plan, workers=2, chunk_rows=37))
    assert [(c.contacts, c.problems, c.rows) for c in serial] == [
        (c.contacts, c.problems, c.rows) for c in parallel
    ]
    # 8 bad numbers; rows 351..399 repeat the numbers of rows 1..49 (row 0 and 350 are bad)
    assert sum(len(c.problems) for c in serial) == 8 + 49


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=4))
def test_custom_fields_json_is_exactly_what_json_dumps_writes(values: dict[str, str]) -> None:
    from dialerd.taskflow.importing import _json_object

    assert _json_object(values) == json.dumps(values)


# ---- Phone numbers a spreadsheet exported as floats


def test_float_exported_phone_numbers_are_rejected_not_imported_wrong(tmp_path: Path) -> None:
    p = write(tmp_path, "phone\n4930123456.0\n030123456.0\n4.930123456E9\n030 1234567\n")
    contacts, problems, _ = parse(p)
    assert [c.phone for c in contacts] == ["+49301234567"]
    assert [(q.row, q.column, q.value) for q in problems] == [
        (2, "phone", "4930123456.0"),
        (3, "phone", "030123456.0"),
        (4, "phone", "4.930123456E9"),
    ]
    assert all("exported as a float" in q.reason for q in problems)
