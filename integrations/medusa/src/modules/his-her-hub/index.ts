import { Module } from '@medusajs/framework/utils'
import HisHerHubService from './service'

export const HIS_HER_HUB = 'hisHerHub'

export default Module(HIS_HER_HUB, { service: HisHerHubService })
