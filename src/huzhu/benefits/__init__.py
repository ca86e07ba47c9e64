"""Member benefits (会员专享普惠服务): activities, bookings, lotteries, vouchers, redemption."""
