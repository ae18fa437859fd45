"""The words on the human-readable invoice (Factur-X PDF, the operator's view), as gettext msgids.

The labels are English here, marked with ``N_`` for extraction, and translated for the page's
language by the one catalogue (``gateway.i18n``, ``gateway/translations``): ``labels(lang)``,
``document_type(code, lang)``… Countries are named by Babel's locale data (CLDR), not by a table.
Data, not code: a new label is a new line here and its French entry in the catalogue.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

from gateway import i18n
from gateway.i18n import N_, NP_


# the labels of the page, by key (the template reads t.<key>)
LABELS: dict[str, object] = {
    'invoice': N_('Invoice'),
    'number': N_('Invoice number'),
    'issue_date': N_('Issue date'),
    'due_date': N_('Due date'),
    'currency': N_('Currency'),
    'seller': N_('Seller'),
    'buyer': N_('Buyer'),
    'payee': N_('Payee'),
    'tax_representative': N_("Seller's tax representative"),
    'deliver_to': N_('Delivery'),
    'vat_id': N_('VAT number'),
    'legal_id': N_('Registration number'),
    'tax_reg_id': N_('Tax registration'),
    'identifier': N_('Identifier'),
    'electronic_address': N_('Electronic address'),
    'contact': N_('Contact'),
    'phone': N_('Phone'),
    'email': N_('Email'),
    'trading_name': N_('Trading as'),
    'references': N_('References'),
    'buyer_reference': N_('Buyer reference'),
    'purchase_order': N_('Purchase order'),
    'sales_order': N_('Sales order'),
    'contract': N_('Contract'),
    'project': N_('Project'),
    'despatch_advice': N_('Despatch advice'),
    'receiving_advice': N_('Receiving advice'),
    'tender': N_('Tender or lot'),
    'invoiced_object': N_('Invoiced object'),
    'buyer_accounting': N_('Buyer accounting reference'),
    'preceding_invoice': N_('Preceding invoice'),
    'of': N_('of'),
    'vat_point_date': N_('VAT point date'),
    'invoicing_period': N_('Invoicing period'),
    'delivery_date': N_('Delivery date'),
    'business_process': N_('Business process'),
    'lines': N_('Invoice lines'),
    'line_no': N_('#'),
    'description': N_('Description'),
    'quantity': N_('Qty'),
    'unit': N_('Unit'),
    'net_price': N_('Net price'),
    'vat_rate': N_('VAT'),
    'net_amount': N_('Net amount'),
    'item_id': N_('Item no.'),
    'buyer_item_id': N_('Buyer item no.'),
    'standard_id': N_('Item ID'),
    'origin': N_('Origin'),
    'period': N_('Period'),
    'order_line': N_('Order line'),
    'gross_price': N_('gross price'),
    'discount': N_('discount'),
    'per': N_('per'),
    'allowance': N_('Allowance'),
    'charge': N_('Charge'),
    'allowances_charges': N_('Document allowances and charges'),
    'reason': N_('Reason'),
    'base_amount': N_('Base'),
    'percentage': N_('Rate'),
    'amount': N_('Amount'),
    'vat_breakdown': N_('VAT breakdown'),
    'vat_category': N_('VAT category'),
    'taxable_amount': N_('Taxable amount'),
    'vat_amount': N_('VAT amount'),
    'exemption': N_('Exemption reason'),
    'totals': N_('Totals'),
    'sum_lines': N_('Sum of line net amounts'),
    'sum_allowances': N_('Allowances'),
    'sum_charges': N_('Charges'),
    'total_without_vat': N_('Total excluding VAT'),
    'total_vat': N_('Total VAT'),
    'total_vat_accounting': N_('Total VAT in accounting currency'),
    'total_with_vat': N_('Total including VAT'),
    'paid': N_('Paid amount'),
    'rounding': N_('Rounding'),
    'amount_due': N_('Amount due'),
    'payment': N_('Payment'),
    'payment_means': N_('Payment means'),
    'remittance': N_('Payment reference'),
    'iban': N_('IBAN'),
    'account_name': N_('Account name'),
    'bic': N_('BIC'),
    'card': N_('Payment card'),
    'card_holder': N_('Card holder'),
    'mandate': N_('Mandate reference'),
    'creditor_id': N_('Creditor identifier'),
    'debited_account': N_('Debited account'),
    'payment_terms': N_('Payment terms'),
    'notes': N_('Notes'),
    'supporting_documents': N_('Supporting documents'),
    'page': N_('Page'),
    'page_of': NP_('page 3 of 5', 'of'),
    'from': N_('from'),
    'to': N_('to'),
    'truncated': N_('[%(n)s more characters in the embedded XML]'),
}


# UNTDID 1001 document types
DOCUMENT_TYPES: dict[str, str] = {
    '380': N_('Invoice'),
    '381': N_('Credit note'),
    '383': N_('Debit note'),
    '384': N_('Corrected invoice'),
    '386': N_('Prepayment invoice'),
    '387': N_('Hire invoice'),
    '388': N_('Tax invoice'),
    '389': N_('Self-billed invoice'),
    '393': N_('Factored invoice'),
    '396': N_('Factored credit note'),
    '261': N_('Self-billed credit note'),
    '262': N_('Consolidated credit note'),
    '326': N_('Partial invoice'),
    '875': N_('Partial construction invoice'),
    '876': N_('Partial final construction invoice'),
    '877': N_('Final construction invoice'),
    '751': N_('Invoice information for accounting purposes'),
    '575': N_("Insurer's invoice"),
    '780': N_('Freight invoice'),
    '457': N_('Storno'),
}


# UNCL 5305 VAT categories
VAT_CATEGORIES: dict[str, str] = {
    'S': N_('Standard rate'),
    'Z': N_('Zero rated'),
    'E': N_('Exempt'),
    'AE': N_('Reverse charge'),
    'K': N_('Intra-community supply'),
    'G': N_('Export outside the EU'),
    'O': N_('Not subject to VAT'),
    'L': N_('Canary Islands (IGIC)'),
    'M': N_('Ceuta and Melilla (IPSI)'),
    'B': N_('Split payment'),
}


# UNCL 4461 payment means
PAYMENT_MEANS: dict[str, str] = {
    '1': N_('Not defined'),
    '10': N_('Cash'),
    '20': N_('Cheque'),
    '30': N_('Credit transfer'),
    '31': N_('Debit transfer'),
    '42': N_('Payment to bank account'),
    '48': N_('Bank card'),
    '49': N_('Direct debit'),
    '54': N_('Credit card'),
    '55': N_('Debit card'),
    '57': N_('Standing agreement'),
    '58': N_('SEPA credit transfer'),
    '59': N_('SEPA direct debit'),
    '68': N_('Online payment service'),
    '97': N_('Clearing between partners'),
    'ZZZ': N_('Mutually defined'),
}


# UN/ECE Recommendation 20 units (those an invoice commonly uses)
UNITS: dict[str, str] = {
    'C62': N_('unit'),
    'H87': N_('piece'),
    'EA': N_('each'),
    'XPP': N_('piece'),
    'XBX': N_('box'),
    'XPK': N_('package'),
    'SET': N_('set'),
    'PR': N_('pair'),
    'HUR': N_('hour'),
    'MIN': N_('minute'),
    'DAY': N_('day'),
    'WEE': N_('week'),
    'MON': N_('month'),
    'ANN': N_('year'),
    'KGM': N_('kg'),
    'GRM': N_('g'),
    'TNE': N_('t'),
    'LTR': N_('l'),
    'MLT': N_('ml'),
    'MTQ': N_('m³'),
    'MTR': N_('m'),
    'MTK': N_('m²'),
    'KMT': N_('km'),
    'CMT': N_('cm'),
    'KWH': N_('kWh'),
    'LS': N_('lump sum'),
    'P1': N_('%'),
    'E48': N_('service'),
}



@lru_cache(maxsize=8)
def labels(lang: str) -> dict[str, str]:
    """Every label of the page in ``lang``."""
    return {key: i18n.pgettext(lang, *text) if isinstance(text, tuple) else i18n.gettext(lang, text)
            for key, text in LABELS.items()}


def _named(table: dict[str, str], code: Optional[str], lang: str) -> str:
    text = table.get((code or "").strip())
    return i18n.gettext(lang, text) if text else ""


def document_type(code: Optional[str], lang: str) -> str:
    """'Credit note' / 'Avoir' for 381; '' for a code the table does not know."""
    return _named(DOCUMENT_TYPES, code, lang)


def vat_category(code: Optional[str], lang: str) -> str:
    return _named(VAT_CATEGORIES, code, lang)


def payment_means(code: Optional[str], lang: str) -> str:
    return _named(PAYMENT_MEANS, code, lang)


def unit(code: Optional[str], lang: str) -> str:
    return _named(UNITS, code, lang)


def country(code: Optional[str], lang: str) -> str:
    """The country's name in ``lang`` (CLDR, through Babel); '' for a code it does not know."""
    return i18n.locale(lang).territories.get((code or "").strip().upper(), "")
