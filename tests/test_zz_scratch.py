import json, unicodedata
def p(x): print(json.dumps(x, ensure_ascii=False))
CREATE = 'mutation($input: DatasetInput!) { createDataset(input: $input) { code status version owner { code } fields { name } } }'
K = {"name": "item_id", "type": "string", "required": True}
def inp(**kw):
    d = {"code": "tax_debt", "title": "Nợ thuế", "sector": "tai-chinh", "keyField": "item_id", "fields": [K]}
    d.update(kw); return d
async def test_smoke(gql, token, client):
    owner = token("SKHDT", "owner")
    for i in [inp(code="TaxDebt"), inp(code="business"), inp(keyField="nope"), inp(fields=[dict(K, required=False)]),
              inp(fields=[K, {"name": "s", "type": "string", "sensitivity": "SECRET"}]),
              inp(sensitivity="SECRET"),
              inp(fields=[K, {"name": "r", "type": "reference", "references": "nothing_here"}]),
              inp(fields=[K, {"name": "r", "type": "reference", "references": "business.name"}]),
              inp(fields=[K, {"name": "r", "type": "reference", "references": "business.tax_code"}]),
              inp(fields=[K, {"name": "e", "type": "enum"}]),
              inp(fields=[K, {"name": "e", "type": "enum", "enumValues": ["a", "b"]}]),
              inp(fields=[K, K]),
              inp(code="business_copy", entityKind="business", keyField="mst", fields=[{"name": "mst", "type": "string", "required": True, "piiKind": "tax_code"}]),
              inp(code="business_copy2", entityKind="business", keyField="mst", referenceOf="business", fields=[{"name": "mst", "type": "string", "required": True, "piiKind": "tax_code"}]),
              inp(code="record"), inp(code="dataset"), inp(code="agency"), inp(code="field"), inp(code="page_info"), inp(code="me"),
              inp(code="search_result"),inp(code="x"*64), inp(code="citizen_copy", entityKind="person", keyField="citizen_id", fields=[{"name": "citizen_id", "type": "string", "required": True}]),
              inp(fields=[K, {"name": "Bad Name", "type": "string"}]),
              inp(fields=[K, {"name": "t", "type": "blob"}]),
              inp(entityKind="alien"),
              inp(title="  "),
              inp(fields=[]),
              inp(owner="STNMT"),
              inp(code="x2", owner="NOPE"),
              ]:
        p(await gql(CREATE, token=owner, input=i))
    p(await gql(CREATE, token=token("STTTT", "steward"), input=inp(code="x3", owner="NOPE")))
    p(await gql(CREATE, token=token("STTTT", "steward"), input=inp(code="x4", owner="STNMT")))
    p(await gql('{ datasets { totalCount edges { node { code } } } }', token=token("STTTT","steward")))
