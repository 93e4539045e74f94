"""EHF invoices for companies: a UBL 2.1 Invoice following Peppol BIS Billing 3.0 (the
fields that profile requires for a domestic Norwegian invoice with no VAT: health services
are exempt). Amounts are written in kroner with two decimals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from xml.etree import ElementTree as ET

UBL = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CUSTOMIZATION = ("urn:cen.eu:en16931:2017#compliant#"
                 "urn:fdc:peppol.eu:2017:poacc:billing:3.0")
PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NO_ORG_SCHEME = "0192"  # Peppol EAS code for Norwegian organisation numbers

ET.register_namespace("", UBL)
ET.register_namespace("cac", CAC)
ET.register_namespace("cbc", CBC)


def _kr(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


def _sub(parent: ET.Element, ns: str, tag: str, text: str | None = None,
         **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _party(parent: ET.Element, role: str, name: str, org_number: str) -> None:
    party = _sub(_sub(parent, CAC, role), CAC, "Party")
    _sub(party, CBC, "EndpointID", org_number, schemeID=NO_ORG_SCHEME)
    address = _sub(party, CAC, "PostalAddress")
    _sub(_sub(address, CAC, "Country"), CBC, "IdentificationCode", "NO")
    legal = _sub(party, CAC, "PartyLegalEntity")
    _sub(legal, CBC, "RegistrationName", name)
    _sub(legal, CBC, "CompanyID", org_number, schemeID=NO_ORG_SCHEME)


def ubl_invoice(
    *, number: int, issue_date: date, due_date: date, kid: str, account: str,
    seller: tuple[str, str], buyer: tuple[str, str], lines: Sequence[tuple[str, int]],
    buyer_reference: str,
) -> bytes:
    """`seller` and `buyer` are (name, organisation number); lines are (text, øre)."""
    total = sum(amount for _, amount in lines)
    root = ET.Element(f"{{{UBL}}}Invoice")
    _sub(root, CBC, "CustomizationID", CUSTOMIZATION)
    _sub(root, CBC, "ProfileID", PROFILE)
    _sub(root, CBC, "ID", str(number))
    _sub(root, CBC, "IssueDate", issue_date.isoformat())
    _sub(root, CBC, "DueDate", due_date.isoformat())
    _sub(root, CBC, "InvoiceTypeCode", "380")
    _sub(root, CBC, "DocumentCurrencyCode", "NOK")
    _sub(root, CBC, "BuyerReference", buyer_reference)
    _party(root, "AccountingSupplierParty", *seller)
    _party(root, "AccountingCustomerParty", *buyer)
    means = _sub(root, CAC, "PaymentMeans")
    _sub(means, CBC, "PaymentMeansCode", "30")
    _sub(means, CBC, "PaymentID", kid)
    _sub(_sub(means, CAC, "PayeeFinancialAccount"), CBC, "ID", account)
    tax = _sub(root, CAC, "TaxTotal")
    _sub(tax, CBC, "TaxAmount", "0.00", currencyID="NOK")
    subtotal = _sub(tax, CAC, "TaxSubtotal")
    _sub(subtotal, CBC, "TaxableAmount", _kr(total), currencyID="NOK")
    _sub(subtotal, CBC, "TaxAmount", "0.00", currencyID="NOK")
    _tax_category(subtotal)
    money = _sub(root, CAC, "LegalMonetaryTotal")
    for tag in ("LineExtensionAmount", "TaxExclusiveAmount", "TaxInclusiveAmount",
                "PayableAmount"):
        _sub(money, CBC, tag, _kr(total), currencyID="NOK")
    for index, (text, amount) in enumerate(lines, start=1):
        line = _sub(root, CAC, "InvoiceLine")
        _sub(line, CBC, "ID", str(index))
        _sub(line, CBC, "InvoicedQuantity", "1", unitCode="EA")
        _sub(line, CBC, "LineExtensionAmount", _kr(amount), currencyID="NOK")
        item = _sub(line, CAC, "Item")
        _sub(item, CBC, "Name", text)
        _tax_category(item, "ClassifiedTaxCategory")
        _sub(_sub(line, CAC, "Price"), CBC, "PriceAmount", _kr(amount), currencyID="NOK")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _tax_category(parent: ET.Element, tag: str = "TaxCategory") -> None:
    category = _sub(parent, CAC, tag)
    _sub(category, CBC, "ID", "E")  # exempt from VAT (health services)
    _sub(category, CBC, "Percent", "0")
    if tag == "TaxCategory":
        _sub(category, CBC, "TaxExemptionReason", "Helsetjenester, unntatt mva")
    _sub(_sub(category, CAC, "TaxScheme"), CBC, "ID", "VAT")
