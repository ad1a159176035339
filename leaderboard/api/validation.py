"""Request validation for every API surface: one helper, DRF's own semantics.

The core API, the seeds' adapters, the reports, moderation and board writes all
validate a body or query string with a serializer through ``validated``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import Field, SkipField, get_error_detail


def validated(serializer_class: type[serializers.Serializer], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """``data`` validated by ``serializer_class``, exactly as ``is_valid(raise_exception=True)`` would.

    Raises DRF's ``ValidationError`` with the serializer's own messages (a 400).
    Query strings and form bodies are read as DRF reads them (repeated keys for
    list fields, an empty optional value counting as absent).

    Instantiating a serializer deep-copies its fields, which costs more than the
    Redis read of the hottest endpoints. So a serializer whose rules are all in
    its fields has them bound once per process, and its fields are run here as
    ``Serializer.to_internal_value`` runs them; one with rules of its own
    (``validate`` or ``validate_<field>`` methods, which may read ``self``;
    validators; context-dependent defaults; nested serializers), a model
    serializer, a partial update, or data that is not a mapping goes through a
    new serializer instance.
    """
    plain = None if partial or not isinstance(data, Mapping) else _plain(serializer_class)
    if plain is None:
        serializer = serializer_class(data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
    shared, fields = plain
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for field in fields:
        name = str(field.field_name)  # bound: never None
        try:
            value = field.run_validation(field.get_value(data))
        except ValidationError as exc:
            errors[name] = exc.detail
        except DjangoValidationError as exc:
            errors[name] = get_error_detail(exc)
        except SkipField:
            continue
        else:
            shared.set_value(values, field.source_attrs, value)
    if errors:
        raise ValidationError(errors)
    return values


@functools.cache
def _plain(
    serializer_class: type[serializers.Serializer],
) -> tuple[serializers.Serializer, tuple[Field, ...]] | None:
    """An instance of a serializer that has no rules beyond its fields, and its writable fields (None otherwise).

    Bound once and shared by every request of the process: running a field
    keeps no state on it.
    """
    if issubclass(serializer_class, serializers.ModelSerializer):
        return None  # model validators (uniqueness) depend on the instance
    own = serializer_class.__mro__[: serializer_class.__mro__.index(serializers.Serializer)]
    if any(name.startswith("validate") for klass in own for name in vars(klass)):
        return None
    if getattr(getattr(serializer_class, "Meta", None), "validators", None):
        return None
    shared = serializer_class()
    fields = tuple(shared._writable_fields)
    for field in fields:
        if isinstance(field, serializers.BaseSerializer):
            return None  # nested serializers may carry rules of their own
        if getattr(field.default, "requires_context", False):
            return None  # e.g. CurrentUserDefault: needs the request
    return shared, fields
