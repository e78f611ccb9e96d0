"""The province's baseline catalogue: its agencies and the five core shared datasets.

Agencies follow the seeds (Quyết định of UBND tỉnh Bắc Ninh); datasets follow DESIGN.md §3.
"""

from __future__ import annotations

from catalog.specs import AgencySpec, DatasetSpec, FieldSpec

F = FieldSpec

AGENCIES: tuple[AgencySpec, ...] = (
    AgencySpec("UBND-TINH", "Ủy ban nhân dân tỉnh Bắc Ninh", "province"),
    AgencySpec("VPUBND", "Văn phòng Ủy ban nhân dân tỉnh", "department", "UBND-TINH"),
    AgencySpec("SKHDT", "Sở Kế hoạch và Đầu tư", "department", "UBND-TINH"),
    AgencySpec("STNMT", "Sở Tài nguyên và Môi trường", "department", "UBND-TINH"),
    AgencySpec("SYT", "Sở Y tế", "department", "UBND-TINH"),
    AgencySpec("STP", "Sở Tư pháp", "department", "UBND-TINH"),
    AgencySpec("STTTT", "Sở Thông tin và Truyền thông", "department", "UBND-TINH"),
    AgencySpec("STC", "Sở Tài chính", "department", "UBND-TINH"),
    AgencySpec("BHXH", "Bảo hiểm xã hội tỉnh", "department", "UBND-TINH"),
    AgencySpec("CA-TINH", "Công an tỉnh", "department", "UBND-TINH"),
    AgencySpec("UBND-TP-BACNINH", "Ủy ban nhân dân thành phố Bắc Ninh", "district", "UBND-TINH"),
    AgencySpec("UBND-TX-TUSON", "Ủy ban nhân dân thị xã Từ Sơn", "district", "UBND-TINH"),
    AgencySpec("UBND-HUYEN-YENPHONG", "Ủy ban nhân dân huyện Yên Phong", "district", "UBND-TINH"),
    AgencySpec(
        "UBND-XA-DONGPHONG", "Ủy ban nhân dân xã Đông Phong", "commune", "UBND-HUYEN-YENPHONG"
    ),
    AgencySpec(
        "UBND-PHUONG-DINHBANG", "Ủy ban nhân dân phường Đình Bảng", "commune", "UBND-TX-TUSON"
    ),
)

DISTRICTS = (
    "Thành phố Bắc Ninh",
    "Thị xã Từ Sơn",
    "Huyện Yên Phong",
    "Huyện Quế Võ",
    "Huyện Tiên Du",
    "Huyện Thuận Thành",
    "Huyện Gia Bình",
    "Huyện Lương Tài",
)

BUSINESS = DatasetSpec(
    code="business",
    title="Cơ sở dữ liệu đăng ký doanh nghiệp",
    description=(
        "Thông tin đăng ký doanh nghiệp trên địa bàn tỉnh: mã số thuế, tên, địa chỉ trụ sở, "
        "ngành nghề kinh doanh chính, vốn điều lệ và tình trạng hoạt động."
    ),
    sector="kinh-te",
    key_field="tax_code",
    sensitivity="PUBLIC",
    entity_kind="business",
    update_frequency="hằng ngày",
    licence="CC-BY-4.0",
    legal_basis="Luật Doanh nghiệp 2020; Nghị định 01/2021/NĐ-CP",
    fields=(
        F(
            "tax_code",
            "string",
            True,
            "Mã số thuế doanh nghiệp (10 hoặc 13 chữ số)",
            "PUBLIC",
            "tax_code",
            searchable=True,
            filterable=True,
        ),
        F(
            "name",
            "string",
            True,
            "Tên doanh nghiệp bằng tiếng Việt",
            "PUBLIC",
            None,
            searchable=True,
            filterable=True,
        ),
        F("english_name", "string", False, "Tên doanh nghiệp bằng tiếng nước ngoài", "PUBLIC"),
        F(
            "legal_form",
            "enum",
            True,
            "Loại hình doanh nghiệp",
            "PUBLIC",
            filterable=True,
            enum_values=("TNHH_1TV", "TNHH_2TV", "CO_PHAN", "HOP_DANH", "TU_NHAN"),
        ),
        F("address", "string", False, "Địa chỉ trụ sở chính", "PUBLIC", "address", searchable=True),
        F(
            "district",
            "string",
            False,
            "Huyện, thị xã, thành phố nơi đặt trụ sở",
            "PUBLIC",
            filterable=True,
        ),
        F(
            "industry_code",
            "string",
            False,
            "Mã ngành kinh tế chính (VSIC 2018)",
            "PUBLIC",
            filterable=True,
        ),
        F("charter_capital", "decimal", False, "Vốn điều lệ (đồng)", "PUBLIC", filterable=True),
        F("registered_on", "date", True, "Ngày cấp đăng ký lần đầu", "PUBLIC", filterable=True),
        F(
            "status",
            "enum",
            True,
            "Tình trạng hoạt động",
            "PUBLIC",
            filterable=True,
            enum_values=("DANG_HOAT_DONG", "TAM_NGUNG", "GIAI_THE", "PHA_SAN"),
        ),
        F(
            "legal_representative",
            "string",
            False,
            "Người đại diện theo pháp luật",
            "INTERNAL",
            "name",
            searchable=True,
        ),
        F(
            "representative_phone",
            "string",
            False,
            "Điện thoại người đại diện",
            "RESTRICTED",
            "phone",
        ),
        F(
            "updated_at",
            "datetime",
            False,
            "Thời điểm cập nhật tại nguồn",
            "PUBLIC",
            filterable=True,
        ),
    ),
)

LAND_PARCEL = DatasetSpec(
    code="land_parcel",
    title="Cơ sở dữ liệu thửa đất",
    description=(
        "Thửa đất đã đăng ký: số hiệu thửa, tờ bản đồ, diện tích, mục đích sử dụng và "
        "người sử dụng đất là tổ chức (theo mã số thuế)."
    ),
    sector="dat-dai",
    key_field="parcel_id",
    sensitivity="INTERNAL",
    entity_kind="land_parcel",
    update_frequency="hằng tuần",
    legal_basis="Luật Đất đai 2024; Thông tư 25/2024/TT-BTNMT",
    fields=(
        F(
            "parcel_id",
            "string",
            True,
            "Mã thửa đất (mã xã - tờ bản đồ - số thửa)",
            "INTERNAL",
            "parcel_id",
            searchable=True,
            filterable=True,
        ),
        F("map_sheet", "int", True, "Số tờ bản đồ địa chính", "INTERNAL", filterable=True),
        F("parcel_number", "int", True, "Số thửa", "INTERNAL"),
        F("district", "string", True, "Huyện, thị xã, thành phố", "INTERNAL", filterable=True),
        F("commune", "string", True, "Xã, phường, thị trấn", "INTERNAL", filterable=True),
        F("area_m2", "decimal", True, "Diện tích (m²)", "INTERNAL", filterable=True),
        F(
            "land_use",
            "enum",
            True,
            "Mục đích sử dụng đất",
            "INTERNAL",
            filterable=True,
            enum_values=("ODT", "ONT", "SKC", "TMD", "LUC", "CLN", "DGT"),
        ),
        F(
            "holder_tax_code",
            "reference",
            False,
            "Mã số thuế tổ chức sử dụng đất",
            "INTERNAL",
            "tax_code",
            filterable=True,
            references="business",
        ),
        F("certificate_no", "string", False, "Số giấy chứng nhận quyền sử dụng đất", "RESTRICTED"),
        F("valid_until", "date", False, "Thời hạn sử dụng đất", "INTERNAL", filterable=True),
        F(
            "updated_at",
            "datetime",
            False,
            "Thời điểm cập nhật tại nguồn",
            "INTERNAL",
            filterable=True,
        ),
    ),
)

CITIZEN = DatasetSpec(
    code="citizen",
    title="Cơ sở dữ liệu dân cư của tỉnh",
    description=(
        "Thông tin cơ bản về công dân thường trú trên địa bàn tỉnh, đồng bộ từ cơ sở dữ liệu "
        "quốc gia về dân cư. Dữ liệu cá nhân: chỉ khai thác theo cấp quyền và mục đích."
    ),
    sector="dan-cu",
    key_field="citizen_id",
    sensitivity="RESTRICTED",
    entity_kind="person",
    update_frequency="hằng ngày",
    legal_basis="Luật Căn cước 2023; Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân",
    fields=(
        F(
            "citizen_id",
            "string",
            True,
            "Số định danh cá nhân (12 chữ số)",
            "RESTRICTED",
            "citizen_id",
            filterable=True,
            encrypted=True,
        ),
        F("full_name", "string", True, "Họ, chữ đệm và tên", "RESTRICTED", "name"),
        F("birth_date", "date", True, "Ngày sinh", "RESTRICTED", "birth_date"),
        F("sex", "enum", True, "Giới tính", "INTERNAL", filterable=True, enum_values=("NAM", "NU")),
        F(
            "district",
            "string",
            True,
            "Huyện, thị xã, thành phố thường trú",
            "INTERNAL",
            filterable=True,
        ),
        F(
            "commune",
            "string",
            True,
            "Xã, phường, thị trấn thường trú",
            "INTERNAL",
            filterable=True,
        ),
        F("address", "string", False, "Địa chỉ thường trú", "RESTRICTED", "address"),
        F("phone", "string", False, "Số điện thoại", "RESTRICTED", "phone", encrypted=True),
        F("ethnicity", "string", False, "Dân tộc", "INTERNAL", filterable=True),
    ),
)

HEALTH_INSURANCE = DatasetSpec(
    code="health_insurance",
    title="Cơ sở dữ liệu thẻ bảo hiểm y tế",
    description=(
        "Thẻ bảo hiểm y tế của người tham gia trên địa bàn tỉnh: số thẻ, đối tượng, nơi đăng "
        "ký khám chữa bệnh ban đầu và thời hạn. Thông tin sức khỏe chỉ khai thác theo cấp quyền."
    ),
    sector="y-te",
    key_field="card_no",
    sensitivity="RESTRICTED",
    entity_kind="other",
    update_frequency="hằng ngày",
    legal_basis="Luật Bảo hiểm y tế 2008, sửa đổi 2024",
    fields=(
        F(
            "card_no",
            "string",
            True,
            "Mã thẻ bảo hiểm y tế (15 ký tự)",
            "INTERNAL",
            "card_no",
            filterable=True,
        ),
        F(
            "citizen_id",
            "reference",
            True,
            "Số định danh cá nhân của người có thẻ",
            "RESTRICTED",
            "citizen_id",
            filterable=True,
            encrypted=True,
            references="citizen",
        ),
        F(
            "beneficiary_group",
            "string",
            True,
            "Mã đối tượng tham gia",
            "INTERNAL",
            filterable=True,
        ),
        F(
            "hospital_code",
            "string",
            True,
            "Mã nơi đăng ký khám chữa bệnh ban đầu",
            "INTERNAL",
            filterable=True,
        ),
        F(
            "hospital_name",
            "string",
            False,
            "Nơi đăng ký khám chữa bệnh ban đầu",
            "INTERNAL",
            searchable=True,
        ),
        F("valid_from", "date", True, "Giá trị sử dụng từ ngày", "INTERNAL", filterable=True),
        F("valid_to", "date", True, "Giá trị sử dụng đến ngày", "INTERNAL", filterable=True),
        F(
            "chronic_conditions",
            "string",
            False,
            "Bệnh mạn tính đã ghi nhận",
            "RESTRICTED",
            "health",
            encrypted=True,
        ),
        F("district", "string", True, "Huyện nơi cấp thẻ", "INTERNAL", filterable=True),
    ),
)

LEGAL_DOCUMENT = DatasetSpec(
    code="legal_document",
    title="Cơ sở dữ liệu văn bản quy phạm pháp luật của tỉnh",
    description=(
        "Văn bản quy phạm pháp luật do HĐND, UBND tỉnh ban hành: số, ký hiệu, trích yếu, "
        "ngày ban hành, hiệu lực và toàn văn."
    ),
    sector="tu-phap",
    key_field="number",
    sensitivity="PUBLIC",
    entity_kind="document",
    update_frequency="khi có văn bản mới",
    licence="CC-BY-4.0",
    legal_basis="Luật Ban hành văn bản quy phạm pháp luật 2025",
    fields=(
        F(
            "number",
            "string",
            True,
            "Số, ký hiệu văn bản (ví dụ 33/2017/QĐ-UBND)",
            "PUBLIC",
            "document_number",
            searchable=True,
            filterable=True,
        ),
        F(
            "doc_type",
            "enum",
            True,
            "Loại văn bản",
            "PUBLIC",
            filterable=True,
            enum_values=("NGHI_QUYET", "QUYET_DINH", "CHI_THI"),
        ),
        F("title", "string", True, "Trích yếu", "PUBLIC", searchable=True),
        F("issuer", "string", True, "Cơ quan ban hành", "PUBLIC", filterable=True),
        F("signer", "string", False, "Người ký", "PUBLIC"),
        F("issued_on", "date", True, "Ngày ban hành", "PUBLIC", filterable=True),
        F("effective_on", "date", False, "Ngày có hiệu lực", "PUBLIC", filterable=True),
        F(
            "status",
            "enum",
            True,
            "Tình trạng hiệu lực",
            "PUBLIC",
            filterable=True,
            enum_values=("CON_HIEU_LUC", "HET_HIEU_LUC", "HET_HIEU_LUC_MOT_PHAN"),
        ),
        F("sector", "string", False, "Lĩnh vực", "PUBLIC", filterable=True),
        F("full_text", "string", False, "Toàn văn", "PUBLIC", searchable=True),
    ),
)

DATASETS: tuple[tuple[str, DatasetSpec], ...] = (
    ("SKHDT", BUSINESS),
    ("STNMT", LAND_PARCEL),
    ("SYT", CITIZEN),
    ("SYT", HEALTH_INSURANCE),
    ("STP", LEGAL_DOCUMENT),
)

__all__ = ["AGENCIES", "DATASETS", "DISTRICTS"]
