"""The words the banner and the preference center show, per language (en, ar, th).

GDPR Art. 7(1) proof: these strings, with the purposes' names and descriptions from the config,
are the "exact text shown"; `consent.banner.shown_text` joins them and the record stores its hash.
"""

from __future__ import annotations

from typing import Final

UI: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Your privacy",
        "body": (
            "We use cookies and similar technologies to measure visits, personalize content and "
            "show ads. Accept all, reject all, or choose purposes. You can change your choice at "
            "any time in the privacy preferences."
        ),
        "accept_all": "Accept all",
        "reject_all": "Reject all",
        "customize": "Choose purposes",
        "save": "Save my choices",
        "always_on": "Always on",
        "preferences": "Privacy preferences",
        "current": "Your current choices",
        "history": "History of your choices",
        "when": "When",
        "method": "How",
        "granted": "Allowed",
        "denied": "Refused",
        "none": "none",
        "no_history": "You have not made a choice yet.",
        "reference": "Your reference",
        "no_reference": "No data is linked to this browser.",
        "dnss": "Do Not Sell or Share My Personal Information",
        "gpc_honored": "Opt-Out Request Honored",
        "gpc_explained": (
            "Your browser sends a Global Privacy Control signal; we treat it as your request to "
            "opt out of the sale and sharing of your personal information."
        ),
        "gpc_confirm": "I confirm I want to allow this despite my browser's opt-out signal",
        "my_data": "Download my data",
        "delete": "Delete my data",
        "delete_confirm": "I understand this erases my data and cannot be undone",
        "saved": "Your choices were saved.",
        "on": "On",
        "off": "Off",
        "gpc_kept": (
            "Kept refused because your browser sends a Global Privacy Control (GPC) signal: "
            "{purposes}. To allow it anyway, tick it together with the confirmation box."
        ),
        "kept_by_gpc": "kept refused by GPC",
        "choice": "Choice",
        "kind_given": "Given",
        "kind_refused": "Refused",
        "kind_withdrawn": "Withdrawn",
        "kind_changed": "Changed",
        "kind_gpc": "GPC signal",
        "back_to_shop": "Back to the shop",
        "privacy_policy": "Privacy policy",
        "us_choices": "Your Privacy Choices",
    },
    "ar": {
        "title": "خصوصيتك",
        "body": (
            "نستخدم ملفات تعريف الارتباط وتقنيات مشابهة لقياس الزيارات وتخصيص المحتوى وعرض "
            "الإعلانات. يمكنك قبول الكل أو رفض الكل أو اختيار الأغراض، وتغيير اختيارك في أي وقت "
            "من تفضيلات الخصوصية."
        ),
        "accept_all": "قبول الكل",
        "reject_all": "رفض الكل",
        "customize": "اختيار الأغراض",
        "save": "حفظ اختياراتي",
        "always_on": "مفعّل دائمًا",
        "preferences": "تفضيلات الخصوصية",
        "current": "اختياراتك الحالية",
        "history": "سجل اختياراتك",
        "when": "متى",
        "method": "كيف",
        "granted": "مسموح",
        "denied": "مرفوض",
        "none": "لا شيء",
        "no_history": "لم تقم بأي اختيار بعد.",
        "reference": "رقمك المرجعي",
        "no_reference": "لا توجد بيانات مرتبطة بهذا المتصفح.",
        "dnss": "عدم بيع معلوماتي الشخصية أو مشاركتها",
        "gpc_honored": "تم تنفيذ طلب إلغاء الاشتراك",
        "gpc_explained": (
            "يرسل متصفحك إشارة التحكم العالمي في الخصوصية، ونعتبرها طلبًا منك لإلغاء الاشتراك في "
            "بيع معلوماتك الشخصية ومشاركتها."
        ),
        "gpc_confirm": "أؤكد أنني أريد السماح بذلك رغم إشارة إلغاء الاشتراك من متصفحي",
        "my_data": "تنزيل بياناتي",
        "delete": "حذف بياناتي",
        "delete_confirm": "أفهم أن هذا يمحو بياناتي ولا يمكن التراجع عنه",
        "saved": "تم حفظ اختياراتك.",
        "on": "مفعّل",
        "off": "معطّل",
        "gpc_kept": (
            "بقي مرفوضًا لأن متصفحك يرسل إشارة التحكم العالمي في الخصوصية (GPC): "
            "{purposes}. للسماح به رغم ذلك، حدّده مع مربع التأكيد."
        ),
        "kept_by_gpc": "بقي مرفوضًا بسبب GPC",
        "choice": "الاختيار",
        "kind_given": "موافقة",
        "kind_refused": "رفض",
        "kind_withdrawn": "سحب الموافقة",
        "kind_changed": "تغيير",
        "kind_gpc": "إشارة GPC",
        "back_to_shop": "العودة إلى المتجر",
        "privacy_policy": "سياسة الخصوصية",
        "us_choices": "خيارات الخصوصية الخاصة بك",
    },
    "th": {
        "title": "ความเป็นส่วนตัวของคุณ",
        "body": (
            "เราใช้คุกกี้และเทคโนโลยีที่คล้ายกันเพื่อวัดการเข้าชม ปรับเนื้อหาให้เหมาะกับคุณ "
            "และแสดงโฆษณา คุณสามารถยอมรับทั้งหมด ปฏิเสธทั้งหมด หรือเลือกวัตถุประสงค์เอง "
            "และเปลี่ยนได้ทุกเมื่อในการตั้งค่าความเป็นส่วนตัว"
        ),
        "accept_all": "ยอมรับทั้งหมด",
        "reject_all": "ปฏิเสธทั้งหมด",
        "customize": "เลือกวัตถุประสงค์",
        "save": "บันทึกตัวเลือกของฉัน",
        "always_on": "เปิดใช้งานเสมอ",
        "preferences": "การตั้งค่าความเป็นส่วนตัว",
        "current": "ตัวเลือกปัจจุบันของคุณ",
        "history": "ประวัติการเลือกของคุณ",
        "when": "เมื่อ",
        "method": "วิธี",
        "granted": "อนุญาต",
        "denied": "ปฏิเสธ",
        "none": "ไม่มี",
        "no_history": "คุณยังไม่ได้เลือก",
        "reference": "หมายเลขอ้างอิงของคุณ",
        "no_reference": "ไม่มีข้อมูลที่เชื่อมโยงกับเบราว์เซอร์นี้",
        "dnss": "ห้ามขายหรือแบ่งปันข้อมูลส่วนบุคคลของฉัน",
        "gpc_honored": "ดำเนินการตามคำขอยกเลิกแล้ว",
        "gpc_explained": (
            "เบราว์เซอร์ของคุณส่งสัญญาณ Global Privacy Control "
            "เราถือว่าเป็นคำขอของคุณที่จะไม่ให้ขายหรือแบ่งปันข้อมูลส่วนบุคคล"
        ),
        "gpc_confirm": "ฉันยืนยันว่าต้องการอนุญาตแม้เบราว์เซอร์จะส่งสัญญาณยกเลิก",
        "my_data": "ดาวน์โหลดข้อมูลของฉัน",
        "delete": "ลบข้อมูลของฉัน",
        "delete_confirm": "ฉันเข้าใจว่าการดำเนินการนี้จะลบข้อมูลของฉันและไม่สามารถย้อนกลับได้",
        "saved": "บันทึกตัวเลือกของคุณแล้ว",
        "on": "เปิด",
        "off": "ปิด",
        "gpc_kept": (
            "ยังคงปฏิเสธไว้เพราะเบราว์เซอร์ของคุณส่งสัญญาณ Global Privacy Control (GPC): "
            "{purposes} หากต้องการอนุญาต ให้เลือกพร้อมกับช่องยืนยัน"
        ),
        "kept_by_gpc": "ยังคงปฏิเสธเพราะ GPC",
        "choice": "การเลือก",
        "kind_given": "ให้ความยินยอม",
        "kind_refused": "ปฏิเสธ",
        "kind_withdrawn": "ถอนความยินยอม",
        "kind_changed": "เปลี่ยนแปลง",
        "kind_gpc": "สัญญาณ GPC",
        "back_to_shop": "กลับไปที่ร้านค้า",
        "privacy_policy": "นโยบายความเป็นส่วนตัว",
        "us_choices": "ตัวเลือกความเป็นส่วนตัวของคุณ",
    },
}

#: What an embed placeholder says (`gateway/stages/embed_placeholders.py`), per language.
#: `{provider}` is a product name (YouTube, Google Maps) or a host; `{purposes}` the names of
#: the purposes still missing, joined with `and`.
EMBED: Final[dict[str, dict[str, str]]] = {
    "en": {
        "video": "{provider} video",
        "map": "{provider} map",
        "content": "Content from {provider}",
        "blocked": "{what} — blocked until you allow {purposes}",
        "and": " and ",
        "load_once": "Load once",
        "always_allow": "Always allow",
    },
    "ar": {
        "video": "فيديو {provider}",
        "map": "خريطة {provider}",
        "content": "محتوى من {provider}",
        "blocked": "{what} — محجوب حتى تسمح بـ{purposes}",
        "and": " و",
        "load_once": "تحميل مرة واحدة",
        "always_allow": "السماح دائمًا",
    },
    "th": {
        "video": "วิดีโอ {provider}",
        "map": "แผนที่ {provider}",
        "content": "เนื้อหาจาก {provider}",
        "blocked": "{what} — ถูกบล็อกจนกว่าคุณจะอนุญาต {purposes}",
        "and": " และ ",
        "load_once": "โหลดครั้งเดียว",
        "always_allow": "อนุญาตเสมอ",
    },
}
