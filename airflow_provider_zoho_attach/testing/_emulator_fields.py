"""
Field and module metadata of the emulator: what ``GET /settings/fields?module=`` and
``GET /settings/modules`` answer.

Every module has a few standard fields (``Owner``, its name field, the four audit fields and, where
records have a photo, ``Record_Image``); tests declare file-upload and image-upload fields on top.
Field entries carry every key Zoho's ``fields.json`` lists, because Zoho's SDK reads some of them
(``api_name``, ``data_type``, ``json_type``, ``system_mandatory``, ``lookup``,
``associated_module``) before any record call.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FILE_TYPES",
    "FieldDef",
    "field_id",
    "field_json",
    "file_field",
    "modules_json",
    "name_field",
    "standard_fields",
]

#: Data types whose values are lists of ZFS files.
FILE_TYPES = frozenset({"fileupload", "imageupload"})

#: ``(json_type, ui_type, length)`` of each data type the emulator knows.
_TYPES: dict[str, tuple[str, int, int]] = {
    "text": ("string", 1, 120),
    "ownerlookup": ("jsonobject", 8, 120),
    "datetime": ("string", 333, 120),
    "profileimage": ("string", 66, 255),
    "fileupload": ("jsonarray", 555, 1),
    "imageupload": ("jsonarray", 556, 10),
}

#: The name field of each standard module (custom modules use ``Name``).
_NAME_FIELDS = {
    "Leads": "Last_Name",
    "Contacts": "Last_Name",
    "Accounts": "Account_Name",
    "Deals": "Deal_Name",
    "Campaigns": "Campaign_Name",
    "Events": "Event_Title",
    "Solutions": "Solution_Title",
    "Products": "Product_Name",
    "Vendors": "Vendor_Name",
    "Price_Books": "Price_Book_Name",
    "Appointments__s": "Appointment_Name",
    "Services__s": "Service_Name",
    "Notes": "Note_Title",
    **dict.fromkeys(
        ("Tasks", "Cases", "Calls", "Quotes", "Sales_Orders", "Purchase_Orders", "Invoices"), "Subject"
    ),
}

_LAYOUT = {"api_name": "Standard", "name": "Standard", "id": "5725767000000091055"}
_PROFILE_ID = "5725767000000026011"


@dataclass(frozen=True)
class FieldDef:
    """
    One field of a module.

    :param api_name: the field's API name.
    :param data_type: ``text``, ``ownerlookup``, ``datetime``, ``profileimage``, ``fileupload`` or
        ``imageupload``.
    :param length: the most characters, or for file and image fields the most files.
    :param label: the field label.
    :param id: the field id.
    :param custom: a custom field (file and image fields are).
    :param mandatory: ``system_mandatory``.
    :param read_only: set by the system only (``Created_Time``...).
    :param sequence: the position in the layout.
    """

    api_name: str
    data_type: str
    length: int
    label: str
    id: str
    custom: bool = False
    mandatory: bool = False
    read_only: bool = False
    sequence: int = 0


def field_id(module: str, api_name: str) -> str:
    """A stable 19-digit id for a field (the same in every emulator)."""
    digest = hashlib.blake2b(f"{module}\x00{api_name}".encode(), digest_size=8).hexdigest()
    return f"57257670{int(digest, 16) % 10**11:011d}"


def name_field(module: str) -> str:
    """The API name of a module's name field (``Deal_Name``, ``Last_Name``...; ``Name`` for custom)."""
    return _NAME_FIELDS.get(module, "Name")


def _field(module: str, api_name: str, data_type: str, sequence: int, **flags: Any) -> FieldDef:
    label = flags.pop("label", None) or api_name.replace("_", " ")
    length = flags.pop("length", None) or _TYPES[data_type][2]
    return FieldDef(
        api_name=api_name,
        data_type=data_type,
        length=length,
        label=label,
        id=field_id(module, api_name),
        sequence=sequence,
        **flags,
    )


def standard_fields(module: str, *, photo: bool) -> list[FieldDef]:
    """The fields every record of ``module`` has (``Record_Image`` when ``photo``)."""
    fields = [
        _field(module, "Owner", "ownerlookup", 1),
        _field(module, name_field(module), "text", 2, mandatory=True),
        _field(module, "Created_By", "ownerlookup", 3, read_only=True),
        _field(module, "Modified_By", "ownerlookup", 4, read_only=True),
        _field(module, "Created_Time", "datetime", 5, read_only=True),
        _field(module, "Modified_Time", "datetime", 6, read_only=True),
    ]
    if photo:
        fields.append(_field(module, "Record_Image", "profileimage", 7, label="Record Image"))
    return fields


def file_field(
    module: str, api_name: str, data_type: str, length: int, *, label: str | None, sequence: int
) -> FieldDef:
    """
    A custom file-upload or image-upload field.

    :raises ValueError: not ``fileupload``/``imageupload``, a bad API name, or a ``length`` Zoho does
        not allow (1 or 5 files for ``fileupload``, 1 to 10 images for ``imageupload``).
    """
    if data_type not in FILE_TYPES:
        raise ValueError(f"data_type must be 'fileupload' or 'imageupload', not {data_type!r}")
    if not api_name or not api_name.replace("_", "").isalnum() or not api_name[0].isalpha():
        raise ValueError(f"bad field API name {api_name!r}")
    allowed, wording = ((1, 5), "1 or 5") if data_type == "fileupload" else (range(1, 11), "1 to 10")
    if length not in allowed:
        raise ValueError(f"a {data_type} field holds {wording} files, not {length}")
    return _field(module, api_name, data_type, sequence, length=length, label=label, custom=True)


#: Every key of a field in Zoho's ``fields.json``, in its order, with the values that are the same for
#: every field of the emulator; :func:`field_json` sets the others (``...`` here).
_FIELD_TEMPLATE: dict[str, Any] = {
    "associated_module": ...,
    "data_type": ...,
    "operation_type": ...,
    "system_mandatory": ...,
    "webhook": ...,
    "blueprint_supported": False,
    "virtual_field": False,
    "field_read_only": ...,
    "customizable_properties": ...,
    "read_only": ...,
    "custom_field": ...,
    "businesscard_supported": False,
    "filterable": ...,
    "visible": True,
    "available_in_user_layout": True,
    "display_field": ...,
    "pick_list_values_sorted_lexically": False,
    "sortable": ...,
    "layout_associations": [dict(_LAYOUT)],
    "separator": False,
    "searchable": ...,
    "enable_colour_code": False,
    "mass_update": ...,
    "json_type": ...,
    "created_source": ...,
    "type": "used",
    "display_label": ...,
    "column_name": ...,
    "api_name": ...,
    "display_type": -1,
    "ui_type": ...,
    "colour_code_enabled_by_system": False,
    "length": ...,
    "decimal_place": None,
    "quick_sequence_number": ...,
    "email_parser": {"fields_update_supported": False, "record_operations_supported": False},
    "rollup_summary": None,
    "refer_from_field": None,
    "created_time": None,
    "modified_time": None,
    "show_type": 7,
    "category": 0,
    "id": ...,
    "multi_module_lookup": None,
    "sharing_properties": None,
    "currency": None,
    "file_upolad_optionlist": [],
    "lookup": None,
    "profiles": ...,
    "view_type": ...,
    "unique": None,
    "sub_module": None,
    "subform": None,
    "external": None,
    "formula": None,
    "convert_mapping": {"Contacts": None, "Deals": None, "Accounts": None},
    "multiselectlookup": None,
    "multiuserlookup": None,
    "autonumber": None,
    "auto_number": None,
    "pick_list_values": [],
    "crypt": None,
    "tooltip": None,
    "history_tracking": None,
    "association_details": None,
    "allowed_modules": [],
    "additional_column": None,
    "field_label": ...,
    "hipaa_compliance_enabled": False,
    "hipaa_compliance": None,
    "number_separator": False,
    "textarea": None,
    "static_field": False,
    "sequence_number": ...,
}


def field_json(field: FieldDef, module: str) -> dict[str, Any]:
    """
    A field as ``GET /settings/fields`` answers it (every key of Zoho's ``fields.json``, in its order).

    :param field: the field.
    :param module: its module.
    """
    answer = copy.deepcopy(_FIELD_TEMPLATE)
    # Setting a key keeps its place: the answer lists the keys in Zoho's order.
    answer.update(_field_identity(field, module))
    answer.update(_field_behaviour(field))
    return answer


def _field_identity(field: FieldDef, module: str) -> dict[str, Any]:
    """
    What a field is: its names, type, ids, length and place in the layout.

    :param field: the field.
    :param module: its module.
    """
    json_type, ui_type, _ = _TYPES[field.data_type]
    label = field.label
    associated = {"module": f"{field.api_name}__s", "id": field_id(module, field.api_name + "__s")}
    return {
        "associated_module": associated if field.data_type in FILE_TYPES else None,
        "data_type": field.data_type,
        "system_mandatory": field.mandatory,
        "custom_field": field.custom,
        "display_field": field.api_name == name_field(module),
        "json_type": json_type,
        "created_source": "crm" if field.custom else "default",
        "display_label": label,
        "column_name": field.api_name.upper(),
        "api_name": field.api_name,
        "ui_type": ui_type,
        "length": field.length,
        "quick_sequence_number": str(field.sequence),
        "id": field.id,
        "field_label": label,
        "sequence_number": field.sequence,
    }


def _field_behaviour(field: FieldDef) -> dict[str, Any]:
    """
    What may be done with a field: who edits it, and whether it is filtered, sorted or searched.

    :param field: the field.
    """
    files = field.data_type in FILE_TYPES
    editable = not field.read_only
    return {
        "operation_type": dict.fromkeys(("web_update", "api_create", "web_create", "api_update"), editable),
        "webhook": not files,
        "field_read_only": field.read_only,
        "customizable_properties": ["upload_multiple_files"] if field.data_type == "fileupload" else [],
        "read_only": field.read_only,
        "filterable": not files and field.data_type != "profileimage",
        "sortable": not files,
        "searchable": field.data_type == "text",
        "mass_update": editable and not files,
        "profiles": [
            {
                "permission_type": "read_write" if editable else "read_only",
                "name": "Administrator",
                "id": _PROFILE_ID,
            }
        ],
        "view_type": {"view": True, "edit": editable, "quick_create": False, "create": editable},
    }


def modules_json(modules: list[tuple[str, bool]]) -> dict[str, Any]:
    """
    The answer of ``GET /settings/modules``.

    :param modules: ``(api_name, custom)`` of each module, in order.
    """
    return {
        "modules": [
            {
                "api_name": api_name,
                "module_name": api_name,
                "singular_label": api_name.rstrip("s").replace("_", " "),
                "plural_label": api_name.replace("_", " "),
                "id": field_id(api_name, ""),
                "api_supported": True,
                "generated_type": "custom" if custom else "default",
                "creatable": True,
                "editable": True,
                "deletable": True,
                "viewable": True,
                "status": "visible",
                "sequence_number": index,
                "modified_time": None,
            }
            for index, (api_name, custom) in enumerate(modules, start=1)
        ]
    }
