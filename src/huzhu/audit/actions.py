"""What an audit event records (审计事件): one name per action, with the words the log shows.

Every `audit_record` call names one of these; the value is what is stored (`booking.create`),
the label what people read (预约). A new action is added here, and a test checks that no call
passes a bare string.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    # access and sign-in
    ACCESS_DENIED = "access.denied", _("越权访问被拒绝")
    LOGIN_FAILED = "login.failed", _("登录失败")
    LOGIN_LOCKED = "login.locked", _("登录被暂时锁定")
    SMS_LIMITED = "sms.limited", _("短信验证码请求过于频繁")
    STAFF_CREATE = "staff.create", _("创建工作人员账号")
    MEMBER_LOGIN_CREATE = "member.login_create", _("创建会员登录账号")
    PII_ROTATE = "pii.rotate", _("更换个人信息加密密钥")
    # the Django admin
    ADMIN_ADD = "admin.add", _("后台新增记录")
    ADMIN_CHANGE = "admin.change", _("后台修改记录")
    ADMIN_DELETE = "admin.delete", _("后台删除记录")
    # organisations, members and cards
    ORG_CREATE = "org.create", _("新建组织")
    ORG_UPDATE = "org.update", _("修改组织")
    ORGS_IMPORT = "orgs.import", _("导入组织")
    MEMBER_CREATE = "member.create", _("新建会员")
    MEMBER_UPDATE = "member.update", _("修改会员信息")
    MEMBERS_IMPORT = "members.import", _("导入会员名册")
    MEMBERS_EXPORT = "members.export", _("导出会员名册")
    MEMBER_REVEAL_ID = "member.reveal_id", _("查看完整身份证号")
    MEMBER_REVEAL_PHONE = "member.reveal_phone", _("查看完整手机号")
    MEMBER_DATA_EXPORT = "member.data_export", _("会员下载本人数据")
    MEMBER_ERASE = "member.erase", _("注销会员个人信息")
    CARD_ISSUE = "card.issue", _("发放互助服务卡")
    CARD_REPLACE = "card.replace", _("补换互助服务卡")
    CARD_REPORT_LOST = "card.report_lost", _("互助服务卡挂失")
    # plans, enrolments and claims
    PLAN_LOAD = "plan.load", _("载入保障计划")
    PLAN_VERSION_UPDATE = "plan.version_update", _("修改保障计划版本")
    ENROLLMENTS_IMPORT = "enrollments.import", _("导入参保名单")
    ENROLLMENTS_UNIT = "enrollments.unit", _("单位集体参保")
    SETTLEMENTS_IMPORT = "settlements.import", _("导入医保结算数据")
    CLAIM_SUBMITTED = "claim.submitted", _("提交理赔申请")
    CLAIM_ACCEPTED = "claim.accepted", _("受理理赔申请")
    CLAIM_UNDER_REVIEW = "claim.under_review", _("开始审核理赔")
    CLAIM_HELD = "claim.held", _("大额给付待审核")
    CLAIM_AWAITING_SECOND_APPROVAL = "claim.awaiting_second_approval", _("理赔待第二人复核")
    CLAIM_APPROVED = "claim.approved", _("批准理赔")
    CLAIM_REJECTED = "claim.rejected", _("拒绝理赔")
    CLAIM_PAID = "claim.paid", _("理赔已支付")
    CLAIM_RECOMPUTED = "claim.recomputed", _("理赔重新核算")
    CLAIM_DOCUMENT_ADD = "claim.document_add", _("上传理赔材料")
    CLAIM_DOCUMENT_DOWNLOAD = "claim.document_download", _("下载理赔材料")
    CLAIM_DOCUMENTS_ENCRYPT = "claim.documents_encrypt", _("加密已存理赔材料")
    CLAIM_CORRECTION_REQUEST = "claim.correction_request", _("申请调整或追回")
    CLAIM_CORRECTION_REFUSE = "claim.correction_refuse", _("拒绝调整或追回")
    CLAIM_CORRECTED = "claim.corrected", _("调整或追回理赔金额")
    # payments
    PAYMENT_RUN_CREATE = "payment.run_create", _("生成支付批次")
    PAYMENT_RUN_RELEASE = "payment.run_release", _("放行支付批次")
    PAYMENT_RUN_CANCEL = "payment.run_cancel", _("取消支付批次")
    PAYMENT_FILE_DOWNLOAD = "payment.file_download", _("下载银行代发文件")
    PAYMENT_ITEM_PAID = "payment.item_paid", _("转账成功")
    PAYMENT_ITEM_FAILED = "payment.item_failed", _("转账失败")
    # benefits
    ACTIVITY_CREATE = "activity.create", _("创建普惠活动")
    ACTIVITY_UPDATE = "activity.update", _("修改普惠活动")
    ACTIVITY_DRAW = "activity.draw", _("活动摇号")
    BOOKING_CREATE = "booking.create", _("预约")
    BOOKING_REGISTER = "booking.register", _("报名摇号")
    BOOKING_PROMOTE = "booking.promote", _("候补转为预约")
    BOOKING_CANCEL = "booking.cancel", _("取消预约")
    BOOKING_REDEEM = "booking.redeem", _("核销凭证")
    # warm stations
    STATION_CREATE = "station.create", _("新建暖心驿站")
    STATION_UPDATE = "station.update", _("修改暖心驿站")
    STATION_OPERATOR_ADD = "station.operator_add", _("添加驿站管理员")
    STATION_QR_ROTATE = "station.qr_rotate", _("更换驿站二维码")
    STATION_VISIT_TALLY = "station.visit_tally", _("登记驿站服务人次")
    STATIONS_IMPORT = "stations.import", _("导入暖心驿站")
    # care and labour models
    CARE_CAMPAIGN_CREATE = "care.campaign_create", _("创建慰问活动")
    CARE_BUDGET_SET = "care.budget_set", _("调整慰问预算")
    CARE_ALLOCATE = "care.allocate", _("下拨慰问资金")
    CARE_VISIT_RECORD = "care.visit_record", _("登记慰问走访")
    CARE_VISIT_CANCEL = "care.visit_cancel", _("撤销慰问走访")
    CARE_ENTRY_REVERSE = "care.entry_reverse", _("冲销慰问账目")
    CARE_LABOUR_MODEL_CREATE = "care.labour_model_create", _("登记劳模")
