"""Labels and formats of the pages: Chinese by default, English with GONGWU_LANGUAGE=en.

Templates write the Chinese text and call `t("…")`; English is a lookup in `EN` (a missing entry falls
back to the Chinese). Codes stored in the database (flag kinds, statuses, stages…) have their labels here
too, and so do the formats: `2024年6月1日 08:00`, money in yuan with two decimals, rates as percentages.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from accounts.models import Role
from core.labels import Coded
from core.models import UnitKind
from core.timeutil import fmt_china, to_china
from fleet.models import (
    CheckResult,
    CostCategory,
    DisposalMethod,
    FlagKind,
    FlagState,
    MaintenanceKind,
    OrderStatus,
    PlaceKind,
    ReviewStatus,
    VehicleStatus,
)
from property.models import AuctionResult, Blocker, CertificateStep, LeaseState, OperatingStatus, Stage
from scheduler.models import ImportStatus, RunStatus

LANGUAGES = ("zh", "en")
Day = date  # I18n has a method named `date`

# Stored codes are labelled by their Coded enums (core/labels.py), the one catalogue; what the flag
# queue's status filter offers combines the machine's state, the reviews and two groups.
FLAG_STATUS_GROUPS = {
    "unreviewed": ("未审核（全部）", "Unreviewed (all)"),
    "reviewed": ("已审核（全部）", "Reviewed (all)"),
}
# What the queue's status filter offers, and the review choices (code → Chinese; t() gives English).
FLAG_STATUS = (*FlagState.codes(), *ReviewStatus.codes(), *FLAG_STATUS_GROUPS)
REVIEW = {m.value: m.zh for m in ReviewStatus}
SPELL_KINDS = ("idle_vehicle", "silent_tracker")  # flags about whole days

EN: dict[str, str] = {
    "车辆保险": "Insurance policies",
    "车辆年检": "Annual inspections",
    "其他运行费用": "Other running costs",
    "{old} 年 {n_old} 辆 ¥{a} → {new} 年 {n_new} 辆 ¥{b}": (
        "{old}: {n_old} cars ¥{a} → {new}: {n_new} cars ¥{b}"
    ),
    "全县行之后是同一些费用按车辆列出。": "After the county's row, the same costs are listed by car.",
    "共计天数": "Days in all",
    "单车费用（元）": "Per car (¥)",
    "各单位运行费用（元）": "Running costs by unit (¥)",
    "各类费用（元）": "Costs by category (¥)",
    "合计（元）": "Total (¥)",
    "处置收入（元）": "Income (¥)",
    "处置方式": "Method",
    "处置日期": "Disposed on",
    "年份应为四位数字": "The year should be four digits",
    "待批复天数": "Days awaiting approval",
    "批复后天数": "Days after approval",
    "批复文号": "Approval no.",
    "批复日期": "Approved on",
    "接收单位": "Receiving unit",
    "提议处置日期": "Proposed on",
    "每公里费用（元）": "Per km (¥)",
    "申请文号": "Application no.",
    "申请日期": "Applied on",
    "费用按发生日所属单位计：调剂车辆调剂日前的费用仍计原单位。": (
        "A cost counts for the unit that held the car on its day: a transferred car's costs before the "
        "transfer stay with the old unit."
    ),
    "车辆处置": "Disposals",
    "闲置待处置天数": "Days idle, proposed",
    "（元）": " (¥)",
    "处置收入不是金额": "The income is not an amount",
    "出行费用单的燃油费若已有加油票注明该派车单，只计加油票。": (
        "An order's fuel is counted from its fuel slip when a slip names the order, never twice."
    ),
    "单车": "Per car",
    "单车费用": "Per car",
    "各车辆": "Each car",
    "增减": "Change",
    "对比年份": "Compare with",
    "年份": "Year",
    "每次行程费用": "Per trip",
    "车牌或单位": "Plate or unit",
    "处置": "Disposal",
    "天数：每一阶段从开始到下一阶段开始（当前阶段到今天）。": (
        "Days: from the start of each stage to the start of the next (the current one to today)."
    ),
    "批复（文号）": "Approval (no.)",
    "没有处置中的车辆": "No car in disposal",
    "申请（文号）": "Application (no.)",
    "下一步": "Next step",
    "下次": "next",
    "保险": "Insurance",
    "保险、年检与其他费用": "Insurance, inspections and other costs",
    "加油": "Fuel",
    "加油、维修、保险、年检与其他费用明细": "Fill-ups, bills, insurance, inspections and other costs",
    "加油时间": "Filled at",
    "加油站": "Station",
    "升数": "Litres",
    "合同或发票号": "Contract or invoice no.",
    "处置已批复": "Disposal approved",
    "处置经过": "Disposal steps",
    "已报财政局申请处置": "Applied to the finance bureau",
    "已过期": "Lapsed",
    "年检": "Inspection",
    "文号（申请或批复）": "Document no. (application or approval)",
    "无记录": "None on file",
    "有效": "Valid",
    "油卡号": "Fuel card",
    "燃油": "Fuel",
    "类别": "Kind",
    "维修保养": "Maintenance",
    "维修单位": "Workshop",
    "至": "until",
    "调剂接收单位": "Receiving unit (transfer)",
    "运行费用报表": "Costs report",
    "通行费": "Tolls",
    "项目": "Item",
    # #22: reports, exports, error pages
    "份租赁": "leases",
    "保存": "Save",
    "保存租赁": "Save the lease",
    "到期日": "Due on",
    "办公用房不得出租": "An office property cannot be leased",
    "办理事项已保存": "The step is saved",
    "只能出租经营性用房；租期不超过上限，且不得与该房的其他租赁重叠。": (
        "Only operating property can be leased; the term stays within the cap and may not overlap "
        "another lease of the property."
    ),
    "备注": "Note",
    "完成情况": "done",
    "完成日期不能晚于今天": "The date cannot be after today",
    "实收（元）": "Received (yuan)",
    "尚无收款": "No payments yet",
    "已收": "Received",
    "已终止": "Terminated",
    "应收租金": "Rent due",
    "应收租金：各租赁在本年内的天数按比例折算的租金（与上方的年租金合计不同）；实收：本年登记的收款。": (
        "Rent due: each lease's rent pro rata by its days in the year (not the annual total above);"
        " received: the payments recorded in the year."
    ),
    "应收（元）": "Due (yuan)",
    "截至": "as of",
    "截至今天应收": "Due by today",
    "所属期间": "Period",
    "收据号": "Receipt no.",
    "收款日期": "Paid on",
    "收款日期不能晚于今天": "The payment date cannot be after today",
    "收款记录": "Payments",
    "收款金额须大于 0": "The amount must be more than 0",
    "新年租金（元，空则不变）": "New annual rent (yuan, blank keeps it)",
    "新建租赁": "New lease",
    "新租期止": "New last day",
    "新租赁自 {day} 起，承租人不变。": "The new lease starts on {day}, with the same tenant.",
    "最后一天": "Last day",
    "未到期": "Not yet due",
    "本房产": "this property",
    "本房产目标日期": "This property's target date",
    "本租赁在录入系统前已执行：{day} 之前到期的租金视为已在系统外结清。": (
        "This lease was running before it was recorded here: rent due before {day} is taken as "
        "settled outside gongwu."
    ),
    "欠租": "Arrears",
    "欠缴": "Owed",
    "没有欠租": "No arrears",
    "清除目标": "Clear the target",
    "登记": "Record",
    "登记人": "Recorded by",
    "登记或修改": "Record or change",
    "登记收款": "Record a payment",
    "目标日期已保存": "The target date is saved",
    "租期止须晚于租期起": "The lease must end after it starts",
    "系统外结清": "Settled outside",
    "终止日期": "Terminated on",
    "终止租赁": "Terminate the lease",
    "续租": "Renew",
    "缴租方式": "Rent paid",
    "设定目标": "Set the target",
    "请填写承租人": "Enter the tenant",
    "请填写日期": "Enter a date",
    "请填写金额": "Enter an amount",
    "请选择缴租方式": "Choose how the rent is paid",
    "请选择门面房": "Choose a shopfront",
    "返回": "Back",
    "这些租赁各自一整年的租金之和": "The sum of these leases' rent for a whole year",
    "逾期天数": "Days overdue",
    "逾期自": "Overdue since",
    "金额应为元，最多两位小数，如 12000 或 3500.50": (
        "An amount in yuan with at most two decimals, like 12000 or 3500.50"
    ),
    "金额（元）": "Amount (yuan)",
    "门面房": "Shopfront",
    "租赁已保存": "The lease is saved",
    "收款已登记": "The payment is recorded",
    "已续租：这是新的租赁": "Renewed: this is the new lease",
    "租赁已终止": "The lease is terminated",
    "已保存": "Saved",
    "未登记": "not recorded",
    "操作未执行：页面已过期或无权操作，请刷新页面后重试。": (
        "Nothing was done: the page has expired or you may not do this. Reload the page and try again."
    ),
    "您的角色（{role}）无权查看此页面。": "Your role ({role}) may not see this page.",
    "无权查看此页面。": "You may not see this page.",
    "页面不存在，或者您无权查看。请检查地址。": (
        "There is no such page, or you may not see it. Check the address."
    ),
    "无权查看": "Not allowed",
    "返回上一页": "Back",
    "{d} 台终端的轨迹有变，重新切分，替换旧行程 {n} 条": (
        "{d} trackers' tracks changed and were re-cut, replacing {n} trips"
    ),
    "做了什么": "What it did",
    "出行申请": "Order",
    "切出新行程": "New trips cut",
    "切出新行程 {n} 条": "{n} new trips cut",
    "处理日期止": "Last day",
    "处理日期起": "First day",
    "开始": "Start",
    "新增预警 {n} 条": "{n} flags raised",
    "消除预警 {n} 条（已补报或恢复正常）": "{n} flags resolved (order filed later or back to normal)",
    "耗时（秒）": "Took (s)",
    "里程（公里）": "Distance (km)",
    "重新切分的终端": "Trackers re-cut",
    "面积（㎡）": "Area (㎡)",
    "未审核": "Not reviewed",
    "误报（不计入）": "False alarm (not counted)",
    "通报正文": "Bulletin text",
    "未报备行程审核情况": "How the unreported trips were reviewed",
    "已说明的行程仍计为未报备，报备率不变；误报不计入任何数字。": (
        "Explained trips still count as unreported in the rate; false alarms count nowhere."
    ),
    # the order pages (#19)
    "一级审批": "Level 1 (unit)",
    "二级审批": "Level 2 (center)",
    "中心车辆": "Center pool",
    "乘车人数": "Passengers",
    "乘车人数须为 1 到 60 的整数": "Passengers must be a whole number from 1 to 60",
    "其他费用": "Other costs",
    "其他车辆": "Other car",
    "出县": "Out of county",
    "出县（离开本县）": "Leaves the county",
    "出行事由": "Purpose",
    "办理记录": "History",
    "单位答复": "The unit's reply",
    "只能选择本单位的车辆": "Choose one of your unit's cars",
    "同意": "Approve",
    "实际还车": "Returned at",
    "实际还车时间": "Actual return time",
    "审批意见": "Comment",
    "尚未答复": "No reply yet",
    "已同意": "Approved",
    "已派车": "Dispatched",
    "已还车": "Returned",
    "待中心审批": "Awaiting the center",
    "待办": "To do",
    "待单位审批": "Awaiting the unit's approver",
    "待我审批": "To approve",
    "待派车": "To dispatch",
    "您的账号尚未关联驾驶员登记，请联系车辆管理员": (
        "Your account is not linked to a driver record yet: ask the vehicle manager"
    ),
    "情况说明": "Explanation",
    "我的任务": "My trips",
    "我的申请": "My requests",
    "我要用车": "Request a car",
    "按所选车辆": "As the chosen car's",
    "提交后由本单位审批人审批；出县、节假日或跨夜用车还需机关事务服务中心审批。": (
        "Your unit's approver decides first; a trip out of the county, on a rest day or overnight also needs"
        " the center's approval."
    ),
    "提交申请": "Submit request",
    "提交答复": "Send reply",
    "无终端": "No tracker",
    "暂无": "None",
    "暂无被覆盖的行程": "No covered trips yet",
    "未派车": "No car yet",
    "没有待审批的申请": "Nothing to approve",
    "没有待派车的申请": "Nothing to dispatch",
    "没有待还车的任务": "No trips to return",
    "派车": "Dispatch",
    "用车单位": "Unit",
    "由中心派车": "A center car",
    "申请已提交，等待审批": "Request submitted: it awaits approval",
    "申请指定": "Requested",
    "相差": "Difference",
    "确认还车": "Record the return",
    "答复已提交": "Reply sent",
    "终端24小时内在线": "Tracker reported in 24 h",
    "节假日": "Rest day",
    "补报": "Late order",
    "补报出行申请（车辆和时间取自该行程）": "File a late order (car and times from the trip)",
    "补报申请": "Late order",
    "终端检修": "Tracker checks",
    "逾期未检修": "Check overdue",
    "30天内到期": "Due within 30 days",
    "检修周期": "Check every",
    "个月": "months",
    "最近检修": "Last check",
    "从未检修": "Never checked",
    "下次检修": "Next check",
    "离线自": "Silent since",
    "更换记录": "Replaced",
    "检修结果": "Result",
    "正常": "OK",
    "单位补报的申请已批准": "the unit's late order was approved",
    "补报的行程": "Trip of the late order",
    "该单位待审核预警": "The unit's open flags",
    "请填写出发时间": "Enter the departure time",
    "请填写出行事由": "Enter the purpose",
    "请填写目的地": "Enter the destination",
    "请填写返回时间": "Enter the return time",
    "请填写还车时间": "Enter the return time",
    "请更正标出的项目": "Correct the marked fields",
    "请选择": "Choose…",
    "请选择用车单位": "Choose the unit",
    "费用单": "Expense sheet",
    "超过 10%，请核实": "over 10 %: check it",
    "跨夜": "Overnight",
    "车辆时间轴": "Cars on a timeline",
    "驾驶员时间轴": "Drivers on a timeline",
    "未定驾驶员": "No driver yet",
    "这两天没有出车的驾驶员": "No driver is out these two days",
    "返回时间须晚于出发时间": "The return must be after the departure",
    "还没有申请": "No requests yet",
    "还车登记": "Return",
    "这两天没有派出的车辆": "No car is out these two days",
    "这段时间没有空闲车辆": "No car is free then",
    "里程核对": "Distance check",
    "里程表行驶公里": "Odometer km",
    "里程表里程": "Odometer",
    "里程须为整数公里": "Odometer km must be a whole number",
    "金额应为元，最多两位小数，如 35.50": "An amount in yuan with at most two decimals, e.g. 35.50",
    "需中心审批": "Needs the center",
    "驳回": "Reject",
    "驳回须写明理由": "A rejection says why",
    "申请单不存在": "Order not found",
    "预警不存在": "Flag not found",
    "我的申请（进行中）": "My requests in progress",
    "待还车": "To return",
    "待答复预警": "Flags to answer",
    # codes
    "有轨迹无订单": "Trip without order",
    "有订单无轨迹": "Order without trip",
    "长期不出行": "Idle vehicle",
    "终端离线": "Silent tracker",
    "待审核": "Open",
    "已自动消除": "Resolved automatically",
    "违规": "Violation",
    "已说明": "Explained",
    "误报": "False alarm",
    "未审核（全部）": "Unreviewed (all)",
    "已审核（全部）": "Reviewed (all)",
    "在用": "In service",
    "闲置待处置": "Idle, proposed for disposal",
    "待处置": "Pending disposal",
    "已处置": "Disposed",
    "已批准": "Approved",
    "待审批": "Pending",
    "已驳回": "Rejected",
    "已取消": "Cancelled",
    "运行中": "Running",
    "成功": "Succeeded",
    "失败": "Failed",
    "已跳过": "Skipped",
    "系统管理员": "Administrator",
    "公车管理员": "Vehicle manager",
    "资产管理员": "Property clerk",
    "单位用户": "Unit staff",
    "监督检查": "Auditor",
    "乡镇": "Township",
    "县直单位": "County department",
    "未测绘": "Not surveyed",
    "已测绘": "Surveyed",
    "已鉴定": "Appraised",
    "已消防验收": "Fire-accepted",
    "已提交审批": "Submitted",
    "已发证": "Certified",
    "缺测绘": "No survey",
    "缺房屋安全鉴定": "No safety appraisal",
    "缺抗震检测": "No seismic test",
    "缺消防验收": "No fire acceptance",
    "未提交审批": "Not submitted",
    "待审批发证": "Waiting for the bureau",
    "出租": "Leased",
    "自用": "Self-used",
    "闲置": "Idle",
    "招租": "Offered for lease",
    "未接管": "Not taken over",
    "成交": "Sold",
    "流拍": "Unsold",
    "撤拍": "Withdrawn",
    "权属登记测绘": "Ownership survey",
    "房屋安全鉴定": "Safety appraisal",
    "抗震检测": "Seismic test",
    "消防验收": "Fire acceptance",
    "提交审批": "Submission",
    "不动产权证": "Title certificate",
    "履行中": "In force",
    "未开始": "Not started",
    # layout
    "机关事务服务中心": "Office Affairs Service Center",
    "公务用车与公物管理": "Official cars and public property",
    "跳到正文": "Skip to content",
    "主导航": "Main navigation",
    "首页": "Home",
    "预警队列": "Flag queue",
    "车辆": "Vehicles",
    "单位报表": "Unit report",
    "通报": "Bulletin",
    "产权证办理": "Certificates",
    "经营性用房": "Operating property",
    "租赁": "Leases",
    "拍卖": "Auctions",
    "运行记录": "Run history",
    "导入数据": "Import data",
    "数据类型": "Data",
    "文件（Excel 或 CSV）": "File (Excel or CSV)",
    "只检查，不导入": "Check only, import nothing",
    "跳过有误的行，导入其余": "Skip bad rows, import the rest",
    "上传并导入": "Upload and import",
    "单个文件最大": "Files up to",
    "默认全部导入或全部不导入，列出每个错误的行、列和原因。": (
        "All or nothing by default; every error with its line, column and reason."
    ),
    "下载模板": "Templates",
    "您的角色不能导入数据。": "Your role cannot import data.",
    "导入记录": "Imports",
    "文件": "File",
    "提交时间": "Handed in",
    "读取行数": "Rows read",
    "提交人": "By",
    "尚无导入": "No imports yet",
    "导入": "Import",
    "已读取行数": "Rows read",
    "行": "Line",
    "刷新": "Refresh",
    "读取": "Read",
    "新增": "New",
    "更新": "Updated",
    "未变": "Unchanged",
    "有误": "Bad",
    "只做了检查，没有导入任何数据。": "Checked only: nothing was imported.",
    "有误，未导入任何数据；改正后重新上传，或勾选“跳过有误的行”。": (
        "Bad rows: nothing imported; correct them and upload again, or tick “skip bad rows”."
    ),
    "有误的行": "Bad rows",
    "另有": "and",
    "个错误未列出": "more errors not listed",
    "列": "Column",
    "原因": "Reason",
    "请选择要导入的数据类型": "Choose what to import",
    "无权导入这类数据": "You may not import this kind of data",
    "请选择文件": "Choose a file",
    "单位名录": "Units",
    "驾驶员名录": "Drivers",
    "终端检修记录": "Tracker checks",
    "地名库": "Places (gazetteer)",
    "加油记录": "Fill-ups",
    "维修保养记录": "Maintenance bills",
    "车牌与终端登记不符的行（已按终端计入）": "Rows naming another plate than their tracker's (kept)",
    "定位数据的坐标系": "Datum of a positions file",
    "WGS-84（GPS 原始坐标）": "WGS-84 (raw GPS)",
    "GCJ-02（高德、腾讯）": "GCJ-02 (AMap, Tencent)",
    "BD-09（百度）": "BD-09 (Baidu)",
    "公务用车登记表": "Vehicle register",
    "出行申请(派车单)": "Trip orders",
    "公务用车定位数据": "Vehicle positions",
    "出行费用单": "Trip expenses",
    "办公用房登记表": "Office properties",
    "经营性用房(门面房)登记表": "Operating properties (shopfronts)",
    "门面房租赁拍卖": "Shopfront lease auctions",
    "租赁合同": "Leases",
    "退出": "Sign out",
    "登录": "Sign in",
    "用户名": "Username",
    "密码": "Password",
    "页面不存在或无权查看": "Not found, or not yours to see",
    "出错了": "Something went wrong",
    "返回首页": "Back to the home page",
    "暂无数据": "No data",
    # the inbox
    "接收渠道": "Where I am told",
    "消息总在这里；也可以发到邮箱、钉钉群机器人或企业微信群机器人。": (
        "Messages are always here; they can also go to an e-mail address, a DingTalk or a WeCom group robot."
    ),
    "渠道已添加": "Channel added",
    "渠道已停用": "Channel switched off",
    "只收每日提醒": "Only the morning digest",
    "免打扰": "Quiet hours",
    "停用": "Switch off",
    "未设置外发渠道": "No channel besides this page",
    "渠道地址": "Channel (mailto:…, dingtalk+https://…, wecom+https://…)",
    "免打扰开始": "Quiet from",
    "免打扰结束": "Quiet until",
    "添加渠道": "Add channel",
    "通知投递": "Notification deliveries",
    "渠道": "Channel",
    "条数": "Count",
    "最近的错误": "Last error",
    "排队": "Queued",
    "发送中": "Sending",
    "已发送": "Sent",
    "消息": "Messages",
    "{n} 条未读": "{n} unread",
    "已标记 {n} 条为已读": "{n} marked read",
    "全部标为已读": "Mark all read",
    "未读": "Unread",
    "已读": "Read",
    "暂无消息": "No messages",
    # maps and places
    "到达地点": "Arrived at",
    "已定位 {n} / {total} 处": "{n} of {total} located",
    "其余的用 gongwu geocode 按地址定位": "locate the rest from their addresses with gongwu geocode",
    "办公用房分布（按办证阶段着色）": "Office properties by certificate stage",
    "经营性用房分布（按现状着色）": "Shopfronts by status",
    "预警地点": "Where the flag is",
    "一天的轨迹": "A day's tracks",
    "个停留点": "stops",
    "个行程": "trips",
    "有行程的日子": "Days with trips",
    "公里/小时": "km/h",
    "开": "on",
    "关": "off",
    "回放位置": "Playback position",
    "地点": "Place",
    "播放": "Play",
    "暂停": "Pause",
    "未命名地点": "Unnamed place",
    "本地底图": "Local basemap",
    "比例尺": "Scale",
    "申请目的地": "Order's destination",
    "行程轨迹地图": "Map of the trip's track",
    "轨迹颜色表示速度": "The track's colour shows the speed",
    "速度": "Speed",
    # trends and utilisation
    "趋势": "Trends",
    "里程与运行费用趋势": "Km and running cost by month",
    "起始月份": "From month",
    "截止月份": "To month",
    "图表显示": "Chart of",
    "全县": "The county",
    "最近十二个月": "Last twelve months",
    "每月行程、里程与运行费用": "Trips, km and running cost by month",
    "每月行驶里程（公里）": "Km driven by month",
    "每月运行费用（元）": "Running cost by month (yuan)",
    "运行费用（元）": "Running cost (yuan)",
    "运行费用：各车出行申请登记的费用（过路费、餐补、油费、其他），按申请的计划出发月份计。": (
        "Running cost: the expenses filed with the cars' orders (tolls, meals, fuel, other), by the month of "
        "the order's planned start."
    ),
    "各单位": "By unit",
    "每月里程": "Km by month",
    "车辆出车率": "Vehicle utilisation",
    "出车率": "Utilisation",
    "有行程的工作日": "Working days with trips",
    "休息日出车天数": "Rest days with trips",
    "出车率 = 有行程的工作日 ÷ 工作日；工作日按国务院节假日安排（含调休）和本中心设定的日子计。": (
        "Utilisation = working days with trips ÷ working days; working days follow the State Council's "
        "holiday calendar (with its make-up working days) and the days the center set itself."
    ),
    "统计自 {first} 至 {last}，共 {n} 个工作日。": "Counted from {first} to {last}: {n} working days.",
    "所选月份尚无已过去的工作日。": "No working day of these months has passed yet.",
    # lists: sorting, pages, search, totals
    "排序": "Sort by",
    "顺序": "Order",
    "升序": "Ascending",
    "降序": "Descending",
    "逾期的在前": "Overdue first",
    "车牌、单位或终端号": "Plate, unit or tracker",
    "分页": "Pages",
    "第 {n} 页": "Page {n}",
    "跳至": "Go to page",
    "转到": "Go",
    "搜索": "Search",
    "匹配 {n} 个": "{n} matching",
    "合计 {n} 份": "Total: {n} leases",
    "合计 {n} 处": "Total: {n} properties",
    "合计 {n} 次行程": "Total: {n} trips",
    "合计 {n} 辆": "Total: {n} vehicles",
    "批次、标的、坐落或承租人": "Batch, lot, address or tenant",
    "编号、坐落、承租人或权属单位": "Code, address, tenant or owner unit",
    "编号或坐落": "Code or address",
    "车牌、单位、型号或终端号": "Plate, unit, model or tracker",
    "没有符合条件的房产": "No property matches",
    "没有符合条件的拍卖批次": "No auction batch matches",
    "没有符合条件的租赁": "No lease matches",
    "没有符合条件的行程": "No trip matches",
    "没有符合条件的车辆": "No vehicle matches",
    "上一页": "Previous",
    "下一页": "Next",
    "第": "Page",
    "页": "",
    "共": "Total",
    "条": "",
    "筛选": "Filter",
    "清除": "Clear",
    "全部": "All",
    "导出 Excel": "Export to Excel",
    "打印": "Print",
    "操作失败，请刷新页面后重试": "The action failed: reload the page and try again",
    # home
    "今日概览": "Today",
    "待审核预警": "Open flags",
    "审核预警": "Review flags",
    "最近一次夜间任务": "Last nightly run",
    "尚未运行": "Not run yet",
    "近 30 天每日行程数": "Trips per day, last 30 days",
    "各单位报备率": "Reporting rate by unit",
    "产权证办理进度": "Certificate progress",
    "待办提醒": "Reminders",
    "暂无待办提醒": "No reminders",
    "本单位": "My unit",
    "本单位车辆": "Vehicles of my unit",
    "本单位办公用房": "Office properties of my unit",
    "本单位经营性用房": "Operating property of my unit",
    "查看": "View",
    "未处理": "open",
    "处": "",
    "辆": "",
    # flags
    "类型": "Kind",
    "单位": "Unit",
    "状态": "Status",
    "起始日期": "From",
    "截止日期": "To",
    "车牌号": "Plate",
    "时间": "Time",
    "情况": "Details",
    "审核": "Review",
    "审核结论": "Decision",
    "审核意见": "Comment",
    "提交": "Submit",
    "选择": "Select",
    "全选": "Select all",
    "批量审核所选预警": "Review the selected flags",
    "已选": "Selected",
    "审核人": "Reviewer",
    "审核时间": "Reviewed at",
    "行程": "Trip",
    "申请单": "Order",
    "公里": "km",
    "分钟": "min",
    "小时": "h",
    "天": "days",
    "起点": "Start",
    "终点": "End",
    "已审核": "Reviewed",
    "已审核 {n} 条预警，已移出待审核列表": "{n} flag(s) reviewed: they have left the open list",
    "已审核：{status}，已移出待审核列表": "Reviewed: {status}. It has left the open list",
    "批量审核": "Bulk review",
    "预警详情": "Flag",
    "审核记录": "Review history",
    "操作人": "By",
    "结论": "Outcome",
    "说明": "Note",
    "该车前后一天的出行申请": "Orders of the vehicle within a day",
    "自动消除原因": "Resolved because",
    "请选择审核结论": "Choose a decision",
    "请至少选择一条预警": "Select at least one flag",
    "没有符合条件的预警": "No flag matches",
    "车辆长期未出行": "Vehicle idle",
    "时间窗": "window",
    "涉及申请单": "orders affected",
    # trip
    "行程详情": "Trip",
    "出发": "Start",
    "到达": "End",
    "里程": "Distance",
    "时长": "Duration",
    "最高速度": "Top speed",
    "平均速度": "Average speed",
    "停留": "Stops",
    "停留点": "Stop",
    "轨迹": "Track",
    "定位点": "fixes",
    "没有存储的定位点": "No stored fixes",
    "覆盖该行程的出行申请": "The order covering this trip",
    "没有覆盖该行程的已批准出行申请": "No approved order covers this trip",
    "计划出发": "Planned start",
    "计划返回": "Planned return",
    "计划时间窗": "Planned window",
    "容许时间窗": "Tolerated window",
    "申请人": "Applicant",
    "驾驶员": "Driver",
    "事由": "Purpose",
    "目的地": "Destination",
    "审批状态": "Order status",
    "申请单号": "Order no.",
    "该行程的预警": "Flags of this trip",
    "坐标": "Position",
    "北": "N",
    # vehicles
    "车辆列表": "Vehicles",
    "品牌型号": "Model",
    "终端号": "Tracker",
    "终端安装记录": "Tracker history",
    "安装时间": "Installed",
    "拆除时间": "Removed",
    "车辆登记表": "Vehicles file",
    "安装记录": "Assignment",
    "至今": "now",
    "首个定位": "first fix",
    "当前": "current",
    "近 30 天无终端": "Without a tracker in the last 30 days",
    "购置日期": "Acquired",
    "最后定位": "Last fix",
    "最近行程": "Last trip",
    "闲置自": "Idle since",
    "未处理预警": "Open flags",
    "每日行程": "Trips by day",
    "行程数": "Trips",
    "日期": "Day",
    "预警": "Flags",
    "费用": "Costs",
    "年度费用": "Costs of the year",
    "单车核算": "Cost per vehicle",
    "出行申请数": "Orders",
    "运行费用": "Operating cost",
    "每公里费用": "Cost per km",
    "过路费": "Tolls",
    "伙食补助": "Meal allowance",
    "燃油费": "Fuel",
    "其他": "Other",
    "合计": "Total",
    "轨迹里程": "Track km",
    "提议处置": "Propose disposal",
    "转为待处置": "Mark pending disposal",
    "撤回处置提议": "Withdraw the proposal",
    "处置说明": "Note",
    "车辆状态已更新": "Vehicle status updated",
    "近 30 天": "Last 30 days",
    "近期行程": "Recent trips",
    "无": "none",
    "从未": "never",
    # reports
    "月份": "Month",
    "车辆数": "Vehicles",
    "已报备行程": "Covered trips",
    "未报备行程": "Unreported trips",
    "补报行程": "Late-reported trips",
    "节假日行程": "Rest-day trips",
    "节假日未报备": "Rest-day, unreported",
    "非工作时间行程": "Off-hours trips",
    "非工作时间未报备": "Off-hours, unreported",
    "出县行程": "Out-of-area trips",
    "出县未报备": "Out-of-area, unreported",
    "超速行程": "Overspeed trips",
    "超速未报备": "Overspeed, unreported",
    "夜间未归": "Nights away",
    "合规情况": "Compliance",
    "高风险未报备行程": "High-risk unreported trips",
    "未知的合规标签": "Unknown compliance tag",
    "改派": "Reassign",
    "已改派：申请单已派给实际出行的车辆": "Reassigned: the order now names the car that drove",
    "把申请单改派给实际出行的车辆": "Give the order to the car that actually drove,",
    "；该预警及其关联的预警随之消除。": "; this flag and the flags it links are resolved.",
    "日期格式应为 YYYY-MM-DD": "Dates are written YYYY-MM-DD",
    "停放点": "Home base",
    "报备率": "Reporting rate",
    "闲置车辆": "Idle vehicles",
    "离线终端": "Silent trackers",
    "费用（元）": "Expenses (yuan)",
    "上月": "Previous month",
    "下月": "Next month",
    "阈值": "Threshold",
    "无行程": "no trips",
    "报备率低于": "Reporting rate under",
    "的单位": "",
    "本月没有报备率低于阈值的单位": "No unit is under the threshold this month",
    "通报内容": "Bulletin text",
    "合计行程": "All trips",
    # properties
    "办公用房": "Office property",
    "产权证办理看板": "Title-certificate board",
    "编号": "Code",
    "名称": "Name",
    "使用单位": "Using unit",
    "地址": "Address",
    "建筑面积": "Floor area",
    "阶段": "Stage",
    "卡点": "Blockers",
    "逾期事项": "Overdue steps",
    "逾期": "overdue by",
    "目标": "target",
    "办理进度": "Checklist",
    "办公用房总数": "Office properties",
    "有卡点": "Blocked",
    "有逾期": "Overdue",
    "只看逾期": "Only overdue",
    "名称或编号": "Name or code",
    "证号": "Certificate no.",
    "完成日期": "Done on",
    "文号": "Document",
    "目标日期": "Target",
    "办理事项": "Step",
    "未完成": "not done",
    "坐落": "Address",
    "权属单位": "Owning unit",
    "面积": "Area",
    "现状": "Status",
    "应接管日期": "Takeover due",
    "空置": "Vacant",
    "接管逾期": "Takeover overdue",
    "是": "yes",
    "逾期未接管": "Overdue takeovers",
    "空置房产": "Vacant",
    "按现状": "By status",
    "全部经营性用房": "All operating property",
    "即将到期": "Expiring soon",
    "天内到期": "days or fewer left",
    "承租人": "Tenant",
    "年租金（元）": "Annual rent (yuan)",
    "押金（元）": "Deposit (yuan)",
    "租期起": "Start",
    "租期止": "End",
    "剩余天数": "Days left",
    "来源": "Source",
    "拍卖成交": "Auction",
    "合同": "Contract",
    "在租及待执行租赁": "Leases in force or to start",
    "年租金合计": "Annual rent in total",
    "年度租金": "Rent roll",
    "租赁数": "Leases",
    "应收租金（元）": "Rent due (yuan)",
    "批次": "Batch",
    "拍卖日期": "Held on",
    "标的数": "Lots",
    "成交年租金（元）": "Annual rent sold (yuan)",
    "标的": "Lot",
    "轮次": "Rounds",
    "结果": "Result",
    "起拍价（元/年）": "Reserve (yuan/yr)",
    "成交价（元/年）": "Price (yuan/yr)",
    "租期": "Term",
    "暂无拍卖批次": "No auction batch yet",
    # runs
    "夜间任务运行记录": "Nightly run history",
    "任务": "Job",
    "开始时间": "Started",
    "结束时间": "Finished",
    "处理日期": "Days",
    "耗时": "Took",
    "新增行程": "Trips added",
    "新增预警": "Flags raised",
    "消除预警": "Flags resolved",
    "错误": "Error",
    "秒": "s",
    "非工作时间": "Off hours",
    "合规标签": "Compliance tags",
    "合规规则": "Compliance rules",
    "规则": "Rule",
    "含义": "Meaning",
    "当前值": "Value",
    "默认值": "Default",
    "节假日与调休": "Holidays and make-up working days",
    "服务区域": "Service area",
    "未导入服务区域，出县规则未启用": "No service area imported: the out-of-area rule is off",
    "平方公里": "km²",
    "休息日": "Rest day",
    "工作日": "Working day",
    "国务院安排": "State Council",
    "本中心设定": "Set by the center",
    "仅按周末（该年安排未知）": "Weekends only (that year is not known yet)",
    "管理员可用 gongwu rules set 或 PUT /api/v1/rules 修改": (
        "An admin changes them with gongwu rules set or PUT /api/v1/rules"
    ),
    "超速": "Overspeed",
    "元": "yuan",
}


# The order pages' labels (fleet.rules codes → text); the EN table above translates them.
LEVELS = {1: "一级审批", 2: "二级审批"}
AWAITING = {"unit": "待单位审批", "center": "待中心审批", "dispatch": "待派车"}
CENTER_REASON = {"out_of_county": "出县", "rest_day": "节假日", "overnight": "跨夜"}
TRIP_TAG = {"rest_day": "节假日", "off_hours": "非工作时间", "out_of_area": "出县", "overspeed": "超速"}
DECISION = {"approved": "同意", "rejected": "驳回"}
CAR_REASON = {
    "requested": "申请指定",
    "own_unit": "本单位车辆",
    "center_pool": "中心车辆",
    "in_scope": "其他车辆",
    "tracker_fresh": "终端24小时内在线",
    "tracker_silent": "终端离线",
    "no_tracker": "无终端",
}


class I18n:
    """`t("预警队列")` in a template; `t.dt(…)`, `t.money(…)` and the code labels format values."""

    def __init__(self, lang: str = "zh") -> None:
        self.lang = lang if lang in LANGUAGES else "zh"
        self.en = self.lang == "en"

    def __call__(self, text: str) -> str:
        return EN.get(text, text) if self.en else text

    def code(self, enum: type[Coded], code: str | None) -> str:
        """The label of a stored code in this page's language (the code itself when unknown)."""
        if code is None or code == "":
            return ""
        try:
            member = enum(code)
        except ValueError:
            return str(code)
        return member.en if self.en else member.zh

    # code labels
    def delivery_state(self, code: str | None) -> str:
        zh = {"queued": "排队", "sending": "发送中", "sent": "已发送", "failed": "失败"}.get(
            code or "", code or ""
        )
        return self(zh)

    def kind(self, code: str | None) -> str:
        return self.code(FlagKind, code)

    def status(self, code: str | None) -> str:
        """A flag's status: its review if any, else the machine's state; or a group of the filter."""
        if code in FLAG_STATUS_GROUPS:
            zh, en = FLAG_STATUS_GROUPS[code]
            return en if self.en else zh
        return self.code(ReviewStatus, code) if code in ReviewStatus.codes() else self.code(FlagState, code)

    def instalments(self, per_year: int) -> str:
        """How a lease's rent falls due."""
        zh = {1: "按年缴纳", 2: "每半年缴纳", 4: "按季缴纳", 12: "按月缴纳"}
        en = {1: "yearly", 2: "half-yearly", 4: "quarterly", 12: "monthly"}
        return (en if self.en else zh).get(per_year, str(per_year))

    def flag_when(self, kind: str, at: datetime | str | None) -> str:
        """When a flag starts: a spell of days (idle, silent) by its date, never a made-up 00:00."""
        return self.date(at) if kind in SPELL_KINDS else self.dt(at)

    def vehicle_status(self, code: str | None) -> str:
        return self.code(VehicleStatus, code)

    def disposal_method(self, code: str | None) -> str:
        return self.code(DisposalMethod, code)

    def cost_category(self, code: str | None) -> str:
        return self.code(CostCategory, code)

    def maintenance_kind(self, code: str | None) -> str:
        return self.code(MaintenanceKind, code)

    def order_status(self, code: str | None) -> str:
        return self.code(OrderStatus, code)

    def check_result(self, code: str | None) -> str:
        return self.code(CheckResult, code)

    def level(self, level: int) -> str:
        """An approval level: 一级审批 (the unit), 二级审批 (the center)."""
        return self(LEVELS.get(level, str(level)))

    def run_status(self, code: str | None) -> str:
        return self.code(RunStatus, code)

    def import_status(self, code: str | None) -> str:
        return self.code(ImportStatus, code)

    def role(self, code: str | None) -> str:
        return self.code(Role, code)

    def unit_kind(self, code: str | None) -> str:
        return self.code(UnitKind, code)

    def stage(self, code: str | None) -> str:
        return self.code(Stage, code)

    def blocker(self, code: str | None) -> str:
        return self.code(Blocker, code)

    def step(self, code: str | None) -> str:
        return self.code(CertificateStep, code)

    def op_status(self, code: str | None) -> str:
        return self.code(OperatingStatus, code)

    def result(self, code: str | None) -> str:
        return self.code(AuctionResult, code)

    def lease_state(self, code: str | None) -> str:
        return self.code(LeaseState, code)

    # formats
    def dt(self, value: datetime | str | None, *, seconds: bool = False) -> str:
        """`2024年6月1日 08:00` (English: `2024-06-01 08:00`), China time."""
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if self.en:
            return to_china(value).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
        return fmt_china(value, seconds=seconds)

    def time(self, value: datetime | None) -> str:
        return "" if value is None else to_china(value).strftime("%H:%M")

    def short(self, value: datetime | None) -> str:
        """`6/1 08:00`: a tick on a time axis."""
        if value is None:
            return ""
        d = to_china(value)
        return f"{d.month}/{d.day} {d:%H:%M}"

    def date(self, value: Day | str | None) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = Day.fromisoformat(value[:10])
        if isinstance(value, datetime):
            value = to_china(value).date()
        return value.isoformat() if self.en else f"{value.year}年{value.month}月{value.day}日"

    def month(self, first: Day) -> str:
        return f"{first:%Y-%m}" if self.en else f"{first.year}年{first.month}月"

    def money(self, value: Decimal | str | int | float | None) -> str:
        """Yuan with thousands separators and two decimals: `649,800.00`."""
        if value is None or value == "":
            return ""
        return f"{Decimal(str(value)):,.2f}"

    def fen(self, value: int | None) -> str:
        """Integer fen as yuan: 64980000 → `649,800.00`."""
        return "" if value is None else self.money(Decimal(int(value)) / 100)

    def pct(self, rate: float | None) -> str:
        return "—" if rate is None else f"{rate * 100:.1f}%"

    def km(self, value: float | None) -> str:
        return "" if value is None else f"{value:,.1f} {self('公里')}"

    def area(self, value: Decimal | float | None) -> str:
        return "" if value is None else f"{Decimal(str(value)):,.0f} ㎡"

    def duration(self, seconds: float | int | None) -> str:
        if seconds is None:
            return ""
        minutes = round(seconds / 60)
        h, m = divmod(minutes, 60)
        if self.en:
            return f"{h} h {m} min" if h else f"{m} min"
        return f"{h}小时{m}分" if h else f"{m}分钟"


def _wrong_vehicle(t: I18n, detail: dict[str, Any]) -> str:
    a, b, n = detail.get("plate", ""), detail.get("other_plate", ""), len(detail.get("trip_ids") or [])
    if t.en:
        return f"Order {detail.get('order_no', '')} of {a}: {b} drove instead ({n} trips)"
    return f"申请单 {detail.get('order_no', '')} 派 {a}，实际由 {b} 出行（{n} 个行程）"


def _away_overnight(t: I18n, detail: dict[str, Any]) -> str:
    km, at = detail.get("km", "?"), t.dt(detail.get("fix_at"))
    home = t("单位") if detail.get("home") == "unit" else t("停放点")
    if t.en:
        return f"Night of {t.date(detail.get('evening_date'))}: {km} km from its {home.lower()} at {at}"
    return f"{t.date(detail.get('evening_date'))} 夜，{at} 距{home} {km} 公里"


def _out_of_area(t: I18n, detail: dict[str, Any]) -> str:
    order = detail.get("order_no", "")
    return f"Order {order} does not say out of county" if t.en else f"申请单 {order} 未注明出县"


_SENSITIVE_WHY = {
    "rest_day": ("休息日", "on a rest day"),
    "off_hours": ("非工作时间", "outside working hours"),
    "no_order": ("无出行申请", "with no order"),
}


def _sensitive_stop(t: I18n, detail: dict[str, Any]) -> str:
    zh, en = _SENSITIVE_WHY.get(detail.get("why", ""), ("", ""))
    kind = t.code(PlaceKind, detail.get("place_kind"))
    minutes = detail.get("minutes", "?")
    if t.en:
        return f"{minutes} min at {detail.get('place', '')} ({kind.lower()}) {en}".strip()
    return f"在{detail.get('place', '')}（{kind}）停留 {minutes} 分钟，{zh}"


_MISSING = {"reason": ("无事由", "no reason"), "document": ("无合同或发票号", "no contract or invoice no.")}
_FUEL_WHY = {
    "no_trip": ("当天无行程", "no trip that day"),
    "over_tank": ("超过油箱容量", "more than the tank holds"),
    "consumption": ("油耗异常", "implausible consumption"),
}
_PAPER = {"insurance": ("保险", "insurance"), "inspection": ("年检", "inspection")}


def _cost_without_evidence(t: I18n, detail: dict[str, Any]) -> str:
    missing = [
        (_MISSING.get(m, (m, m))[1] if t.en else _MISSING.get(m, (m, m))[0])
        for m in detail.get("missing", [])
    ]
    amount, shop = detail.get("amount_yuan", ""), detail.get("workshop", "")
    if str(detail.get("record", "")).startswith("cost:"):  # another running cost: named by its category
        what = t.cost_category(detail.get("category"))
        if t.en:
            return f"{what} of ¥{amount}: {', '.join(missing)}"
        return f"{what} ¥{amount}：{'、'.join(missing)}"
    if t.en:
        return f"Bill of ¥{amount} from {shop or 'a workshop'}: {', '.join(missing)}"
    return f"{shop or '维修'}账单 ¥{amount}：{'、'.join(missing)}"


def _fuel_anomaly(t: I18n, detail: dict[str, Any]) -> str:
    why = [
        (_FUEL_WHY.get(w, (w, w))[1] if t.en else _FUEL_WHY.get(w, (w, w))[0]) for w in detail.get("why", [])
    ]
    litres, tank = detail.get("litres", "?"), detail.get("tank_l", "?")
    if "month" in detail:
        rate, km, band = detail.get("l_per_100km", "?"), detail.get("km", "?"), detail.get("band", [4, 20])
        if t.en:
            return (
                f"{detail['month']}: {litres} L over {km} km = {rate} L/100 km "
                f"(plausible {band[0]}–{band[1]})"
            )
        return (
            f"{detail['month']} 加油 {litres} 升，行驶 {km} 公里，合 {rate} 升/百公里"
            f"（合理范围 {band[0]}–{band[1]}）"
        )
    if t.en:
        return f"{litres} L at {detail.get('filled_at', '')} (tank {tank} L): {', '.join(why)}"
    return f"{detail.get('filled_at', '')} 加油 {litres} 升（油箱 {tank} 升）：{'、'.join(why)}"


def _due(t: I18n, detail: dict[str, Any]) -> str:
    what = _PAPER.get(detail.get("what", ""), ("", ""))
    if t.en:
        return f"The {what[1]} runs out on {detail.get('due_on', '')}: renew it"
    return f"{what[0]}于 {detail.get('due_on', '')} 到期，请及时办理"


def _lapsed_trip(t: I18n, detail: dict[str, Any]) -> str:
    what, trips, since = (
        _PAPER.get(detail.get("what", ""), ("", "")),
        detail.get("trips", 0),
        detail.get("lapsed_on"),
    )
    if t.en:
        ended = f" (ended {since})" if since else ""
        return f"{trips} trip(s) on {detail.get('day', '')} without valid {what[1]}{ended}"
    ended = f"（{since} 到期）" if since else ""
    return f"{detail.get('day', '')} {what[0]}已过期{ended}仍出车 {trips} 次"


_SUMMARIES = {
    "insurance_due": _due,
    "inspection_due": _due,
    "uninsured_trip": _lapsed_trip,
    "uninspected_trip": _lapsed_trip,
    "cost_without_evidence": _cost_without_evidence,
    "fuel_anomaly": _fuel_anomaly,
    "sensitive_stop": _sensitive_stop,
    "wrong_vehicle": _wrong_vehicle,
    "away_overnight": _away_overnight,
    "out_of_area_trip": _out_of_area,
}


def flag_summary(t: I18n, kind: str, detail: dict[str, Any], trip_km: float | None = None) -> str:
    """One line a manager reads beside a flag."""
    sep = ", " if t.en else "，"
    if kind in _SUMMARIES:
        return _SUMMARIES[kind](t, detail)
    if kind == "unreported_trip":
        km = detail.get("km", trip_km)
        minutes = detail.get("minutes")
        parts = []
        if km is not None:
            parts.append(f"{float(km):.1f} {t('公里')}")
        if minutes is not None:
            parts.append(f"{float(minutes):.0f} {t('分钟')}")
        parts += [t(TRIP_TAG.get(tag, tag)) for tag in detail.get("tags") or []]
        return sep.join(parts)
    if kind == "overspeed":
        top, seconds, limit = (
            detail.get("max_kmh", "?"),
            detail.get("seconds", "?"),
            detail.get("limit_kmh", "?"),
        )
        if t.en:
            return f"Up to {top} km/h, {seconds} s above {limit} km/h"
        return f"最高 {top} 公里/小时，超过 {limit} 公里/小时 {seconds} 秒"
    if kind == "order_without_track":
        window = f"{t.dt(detail.get('window_from'))} – {t.time(_parse(detail.get('window_to')))}"
        return f"{t('申请单')} {detail.get('order_no', '')}{sep}{t('时间窗')} {window}"
    if kind == "idle_vehicle":
        since = t.date(detail.get("since")) if detail.get("since") else t("从未")
        days = detail.get("days", "?")
        return f"Idle since {since}, {days} days" if t.en else f"自 {since} 起未出行，{days} 天"
    if kind == "silent_tracker":
        hours = detail.get("hours", "?")
        if detail.get("since"):
            since = t.dt(detail["since"])
            text = f"No fix since {since}, {hours} h" if t.en else f"自 {since} 起无定位，{hours} 小时"
        else:
            text = "Never reported" if t.en else "从未上报定位"
        orders = detail.get("orders") or []
        if orders:
            text += f"{sep}{t('涉及申请单')} {len(orders)}"
        return text
    return ""


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None
