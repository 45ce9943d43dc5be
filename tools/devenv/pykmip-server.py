"""PyKMIP 0.10's server with KMIP custom attributes, for the tests, the demo and the dev environment.

Element attaches a client-defined custom attribute named x-SolidFire-KeyID-<keyID> to each key it
creates on the key server (docs/element-api.md, evidence table), and the runbooks find a key by it
(Locate). KMIP 1.x lets a client give such "x-" attributes in Create and Register and Locate
objects by them. PyKMIP 0.10 does not: Create refuses the attribute (Invalid Field, "The x-...
attribute is unsupported."), and Locate by it fails (General Failure). Every other part of
PyKMIP is used as it is; this file adds only that:

- an "x-" attribute name is accepted for every object type, with several instances allowed;
- Create and Register store its text values in a table of PyKMIP's own database
  (ekm_custom_attributes), removed when the object is destroyed;
- Get Attributes and Get Attribute List return them;
- Locate matches them: an object matches when it holds every custom attribute asked for with
  that value (an object without the attribute does not match).

Run it like pykmip-server: python3 pykmip-server.py -f server.conf -l server.log
"""
import sys

import sqlalchemy
from sqlalchemy import Column, ForeignKey, Integer, String

from kmip.core.factories import attributes as attribute_factory
from kmip.core.messages import payloads
from kmip.pie import objects as pie_objects
from kmip.pie import sqltypes
from kmip.services.server import engine as server_engine
from kmip.services.server import policy as server_policy
from kmip.services.server import server as server_main

CUSTOM_PREFIX = 'x-'


def is_custom(name):
    return isinstance(name, str) and name.startswith(CUSTOM_PREFIX)


class CustomAttributeValue(sqltypes.Base):
    """One instance of a custom attribute on a managed object."""

    __tablename__ = 'ekm_custom_attributes'
    id = Column('id', Integer, primary_key=True)
    mo_uid = Column('mo_uid', Integer, ForeignKey('managed_objects.uid'))
    name = Column('name', String)
    value = Column('value', String)


pie_objects.ManagedObject.__mapper__.add_property(
    'ekm_custom_attributes',
    sqlalchemy.orm.relationship(CustomAttributeValue, cascade='all, delete-orphan', order_by=CustomAttributeValue.id),
)


def _wrap(cls, name, replacement):
    original = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        return replacement(original, self, *args, **kwargs)

    wrapper.__name__ = name
    setattr(cls, name, wrapper)


# -- the attribute policy: "x-" names exist, apply to every object type, may repeat ----------------

Policy = server_policy.AttributePolicy
_wrap(Policy, 'is_attribute_supported', lambda original, self, name: is_custom(name) or original(self, name))
_wrap(Policy, 'is_attribute_deprecated', lambda original, self, name: False if is_custom(name) else original(self, name))
_wrap(Policy, 'is_attribute_multivalued', lambda original, self, name: True if is_custom(name) else original(self, name))
_wrap(
    Policy,
    'is_attribute_applicable_to_object_type',
    lambda original, self, name, object_type: True if is_custom(name) else original(self, name, object_type),
)

# -- the engine -----------------------------------------------------------------------------------

Engine = server_engine.KmipEngine


def _set_attribute(original, self, managed_object, attribute):
    name, values = attribute
    if not is_custom(name):
        return original(self, managed_object, attribute)
    for value in values if isinstance(values, list) else [values]:
        managed_object.ekm_custom_attributes.append(CustomAttributeValue(name=name, value=value.value))
    return None


def _get_attribute(original, self, managed_object, name):
    if not is_custom(name):
        return original(self, managed_object, name)
    return [c.value for c in managed_object.ekm_custom_attributes if c.name == name]


def _get_attributes(original, self, managed_object, names):
    names = list(names) if names else []
    standard = [n for n in names if not is_custom(n)]
    wanted = [n for n in names if is_custom(n)]
    out = original(self, managed_object, standard) if standard or not names else []
    factory = attribute_factory.AttributeFactory()
    counts = {}
    for custom in managed_object.ekm_custom_attributes:
        if names and custom.name not in wanted:
            continue
        index = counts.get(custom.name, 0)
        counts[custom.name] = index + 1
        out.append(factory.create_attribute(custom.name, custom.value, index))
    return out


def _locate(original, self, payload):
    wanted = [(a.attribute_name.value, a.attribute_value.value) for a in payload.attributes or [] if is_custom(a.attribute_name.value)]
    if not wanted:
        return original(self, payload)
    offset, maximum = payload.offset_items, payload.maximum_items
    payload.attributes = [a for a in payload.attributes if not is_custom(a.attribute_name.value)]
    payload.offset_items = None
    payload.maximum_items = None
    found = original(self, payload).unique_identifiers or []
    matched = []
    for uid in found:
        managed_object = (
            self._data_session.query(pie_objects.ManagedObject)
            .filter(pie_objects.ManagedObject.unique_identifier == int(uid))
            .one()
        )
        held = {(c.name, c.value) for c in managed_object.ekm_custom_attributes}
        if all(pair in held for pair in wanted):
            matched.append(uid)
    start = offset or 0
    matched = matched[start:] if maximum is None else matched[start:start + maximum]
    return payloads.LocateResponsePayload(unique_identifiers=matched)


def _destroy(original, self, payload):
    response = original(self, payload)
    # PyKMIP deletes the object with a bulk query, which skips the relationship's cascade.
    uid = int(response.unique_identifier.value)
    self._data_session.query(CustomAttributeValue).filter(CustomAttributeValue.mo_uid == uid).delete()
    self._data_session.commit()
    return response


_wrap(Engine, '_set_attribute_on_managed_object', _set_attribute)
_wrap(Engine, '_get_attribute_from_managed_object', _get_attribute)
_wrap(Engine, '_get_attributes_from_managed_object', _get_attributes)
_wrap(Engine, '_process_locate', _locate)
_wrap(Engine, '_process_destroy', _destroy)


if __name__ == '__main__':
    sys.exit(server_main.main())
