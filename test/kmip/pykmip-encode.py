"""Encodes KMIP 1.2 request messages with PyKMIP's own codec, as hex, for test/kmip/pykmip-oracle.test.ts.

An independent encoder: our TTLV codec must produce the very same bytes for the same requests.
"""
import json

from kmip.core import attributes, enums, objects, utils
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.messages import contents, messages, payloads


def message(operation, payload):
    header = messages.RequestHeader(protocol_version=contents.ProtocolVersion(1, 2), batch_count=contents.BatchCount(1))
    item = messages.RequestBatchItem(operation=contents.Operation(operation), request_payload=payload)
    stream = utils.BytearrayStream()
    messages.RequestMessage(request_header=header, batch_items=[item]).write(stream, kmip_version=enums.KMIPVersion.KMIP_1_2)
    return bytes(stream.buffer).hex()


name = AttributeFactory().create_attribute(
    enums.AttributeType.NAME, attributes.Name.create('k1', enums.NameType.UNINTERPRETED_TEXT_STRING)
)
factory = AttributeFactory()
template = objects.TemplateAttribute(attributes=[
    factory.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES),
    factory.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
    factory.create_attribute(
        enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
        [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT],
    ),
    factory.create_attribute(
        enums.AttributeType.NAME,
        attributes.Name.create('cluster-7 master key', enums.NameType.UNINTERPRETED_TEXT_STRING),
    ),
])
# Element's key tag: a client custom attribute (an "x-" name, a text value), without a Name.
KEY_ID = '6c3b9c1e-54a7-4d8e-9f0a-1b2c3d4e5f60'
custom = factory.create_attribute('x-SolidFire-KeyID-' + KEY_ID, KEY_ID)
tagged = objects.TemplateAttribute(attributes=[
    factory.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES),
    factory.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
    factory.create_attribute(
        enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
        [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT],
    ),
    factory.create_attribute('x-SolidFire-KeyID-' + KEY_ID, KEY_ID),
])
print(json.dumps({
    'create': message(enums.Operation.CREATE, payloads.CreateRequestPayload(
        object_type=enums.ObjectType.SYMMETRIC_KEY, template_attribute=template,
    )),
    'createWithCustomAttribute': message(enums.Operation.CREATE, payloads.CreateRequestPayload(
        object_type=enums.ObjectType.SYMMETRIC_KEY, template_attribute=tagged,
    )),
    'locateByCustomAttribute': message(enums.Operation.LOCATE, payloads.LocateRequestPayload(attributes=[custom])),
    'discoverVersions': message(enums.Operation.DISCOVER_VERSIONS, payloads.DiscoverVersionsRequestPayload()),
    'query': message(enums.Operation.QUERY, payloads.QueryRequestPayload(query_functions=[
        enums.QueryFunction.QUERY_OPERATIONS,
        enums.QueryFunction.QUERY_OBJECTS,
        enums.QueryFunction.QUERY_SERVER_INFORMATION,
    ])),
    'activate': message(enums.Operation.ACTIVATE, payloads.ActivateRequestPayload(unique_identifier=attributes.UniqueIdentifier('42'))),
    'get': message(enums.Operation.GET, payloads.GetRequestPayload(unique_identifier='42', key_format_type=enums.KeyFormatType.RAW)),
    'locate': message(enums.Operation.LOCATE, payloads.LocateRequestPayload(attributes=[name])),
    'revoke': message(enums.Operation.REVOKE, payloads.RevokeRequestPayload(
        unique_identifier=attributes.UniqueIdentifier('42'),
        revocation_reason=objects.RevocationReason(code=enums.RevocationReasonCode.UNSPECIFIED),
    )),
    'destroy': message(enums.Operation.DESTROY, payloads.DestroyRequestPayload(unique_identifier=attributes.UniqueIdentifier('42'))),
}))
