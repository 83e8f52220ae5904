import { Module } from '@medusajs/framework/utils'
import HisHerMercurService from './service'

export const HIS_HER_MERCUR = 'hisHerMercur'

export default Module(HIS_HER_MERCUR, { service: HisHerMercurService })
